// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The rule for files that choose PIDs and commands (src/steering_file.h),
// on the facts fstat and fstatfs give, and on real files in the test's
// directory; and the bound of every read of outside bytes (ReadAll). Cases
// that need another user's files are in pid_map_integration_test and
// fork_tree_integration_test, outside the sandbox.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "src/steering_file.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

using ::testing::HasSubstr;

constexpr long kExt4 = 0xef53;

struct stat FileOf(uid_t owner, mode_t mode) {
  struct stat st = {};
  st.st_uid = owner;
  st.st_mode = mode;
  return st;
}

std::string Refusal(const struct stat& st, long filesystem, uid_t caller = 1000) {
  Status status = CheckSteeringFile(st, filesystem, caller, "/job/map", "PID map");
  if (status) return "";
  EXPECT_EQ(status.error().kind, ErrorKind::kInvalidInput);
  return status.error().message;
}

TEST(CheckSteeringFile, TheCallersOwnFileIsAccepted) {
  EXPECT_EQ(Refusal(FileOf(1000, S_IFREG | 0644), kExt4), "");
  EXPECT_EQ(Refusal(FileOf(1000, S_IFREG | 0600), kExt4), "");
  EXPECT_EQ(Refusal(FileOf(0, S_IFREG | 0644), kExt4, 0), "");  // root's, run by root
}

// The refusal names the real reason (a map another user owns was reported
// as "can be written by others than you … mode 0644").
TEST(CheckSteeringFile, EachRefusalNamesItsReason) {
  EXPECT_EQ(Refusal(FileOf(1001, S_IFREG | 0644), kExt4),
            "PID map /job/map is owned by uid 1001, not by you (uid 1000)");
  EXPECT_EQ(Refusal(FileOf(0, S_IFREG | 0644), kExt4),
            "PID map /job/map is owned by uid 0, not by you (uid 1000)");
  EXPECT_EQ(Refusal(FileOf(1000, S_IFREG | 0664), kExt4),
            "PID map /job/map can be written by its group (mode 0664)");
  EXPECT_EQ(Refusal(FileOf(1000, S_IFREG | 0646), kExt4),
            "PID map /job/map can be written by others (mode 0646)");
  EXPECT_EQ(Refusal(FileOf(1000, S_IFREG | 0666), kExt4),
            "PID map /job/map can be written by its group and by others (mode 0666)");
  EXPECT_THAT(Refusal(FileOf(1000, S_IFREG | 0644), PROC_SUPER_MAGIC), HasSubstr("on procfs"));
  EXPECT_THAT(Refusal(FileOf(1000, S_IFREG | 0644), SYSFS_MAGIC), HasSubstr("on sysfs"));
  EXPECT_EQ(Refusal(FileOf(1000, S_IFIFO | 0600), kExt4),
            "PID map /job/map is not a regular file");
}

class SteeringFileOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp");
  }
  std::string Write(const std::string& name, const std::string& content,
                    mode_t mode = 0644) {
    const std::string path = dir_ + "/" + name;
    ::unlink(path.c_str());
    std::ofstream(path) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(SteeringFileOnDisk, ReadsTheCallersFileThroughItsOwnSymlinks) {
  const std::string file = Write("tree", "content");
  auto text = ReadSteeringFile(file, "tree file", 100);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, "content");
  // A relative link, a link to a link, and a directory link on the way.
  const std::string link = dir_ + "/tree-link";
  const std::string chain = dir_ + "/tree-chain";
  const std::string dir_link = dir_ + "/dir-link";
  ::unlink(link.c_str());
  ::unlink(chain.c_str());
  ::unlink(dir_link.c_str());
  ASSERT_EQ(::symlink("tree", link.c_str()), 0);
  ASSERT_EQ(::symlink(link.c_str(), chain.c_str()), 0);
  ASSERT_EQ(::symlink(".", dir_link.c_str()), 0);
  for (const std::string& path : {link, chain, dir_link + "/tree", dir_link + "/../" +
                                      dir_.substr(dir_.rfind('/') + 1) + "/tree"}) {
    auto read = ReadSteeringFile(path, "tree file", 100);
    ASSERT_TRUE(read) << path << ": " << read.error().message;
    EXPECT_EQ(*read, "content") << path;
  }
}

TEST_F(SteeringFileOnDisk, RefusesWhatTheRuleRefuses) {
  auto group = ReadSteeringFile(Write("group", "x", 0664), "tree file", 100);
  ASSERT_FALSE(group);
  EXPECT_THAT(group.error().message, HasSubstr("can be written by its group (mode 0664)"));
  auto proc = ReadSteeringFile("/proc/self/status", "PID map", 1 << 20);
  ASSERT_FALSE(proc);
  EXPECT_THAT(proc.error().message, HasSubstr("on procfs"));
  // Through a link of the caller's own: the file reached is what counts.
  const std::string link = dir_ + "/pagemap-link";
  ::unlink(link.c_str());
  ASSERT_EQ(::symlink("/proc/self/pagemap", link.c_str()), 0);
  auto linked = ReadSteeringFile(link, "tree file", 1 << 20);
  ASSERT_FALSE(linked);
  EXPECT_THAT(linked.error().message, HasSubstr("on procfs"));
  auto device = ReadSteeringFile("/dev/zero", "PID map", 100);
  ASSERT_FALSE(device);
  EXPECT_THAT(device.error().message, HasSubstr("is not a regular file"));
  const std::string loop = dir_ + "/loop";
  ::unlink(loop.c_str());
  ASSERT_EQ(::symlink("loop", loop.c_str()), 0);
  auto looped = ReadSteeringFile(loop, "PID map", 100);
  ASSERT_FALSE(looped);
  EXPECT_EQ(looped.error().err, ELOOP);
  auto missing = ReadSteeringFile(dir_ + "/absent", "PID map", 100);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

TEST_F(SteeringFileOnDisk, ReadsNoMoreThanItsBound) {
  auto exact = ReadSteeringFile(Write("exact", std::string(100, 'x')), "tree file", 100);
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_EQ(exact->size(), 100u);
  const std::string path = Write("over", std::string(101, 'x'));
  auto over = ReadSteeringFile(path, "tree file", 100);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(over.error().message, "tree file " + path + " holds more than 100 bytes");
  // Of a regular file, exactly the bound and one byte more are read.
  const std::string big = Write("big", std::string(1 << 20, 'x'));
  auto fd = OpenFile(big, O_RDONLY);
  ASSERT_TRUE(fd);
  ASSERT_FALSE(ReadAll(fd->get(), 1000, big));
  EXPECT_EQ(::lseek(fd->get(), 0, SEEK_CUR), 1001);
}

// Issue 17, item 3: a file whose st_size is 0 and whose content is 256 GiB
// (/proc/self/pagemap) is read up to its bound and one byte more, no further.
TEST(ReadAll, StopsOneBytePastItsBoundWhateverStSizeSays) {
  auto fd = OpenFile("/proc/self/pagemap", O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message;
  struct stat st;
  ASSERT_EQ(::fstat(fd->get(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  constexpr size_t kBound = 1 << 20;
  auto text = ReadAll(fd->get(), kBound, "/proc/self/pagemap");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().err, EFBIG);
  EXPECT_EQ(text.error().message, "/proc/self/pagemap holds more than 1048576 bytes");
  // pagemap's file position counts the bytes read; it gives whole 8-byte
  // records only, so the byte past the bound comes in one last 4 KiB read.
  const off_t read = ::lseek(fd->get(), 0, SEEK_CUR);
  EXPECT_GT(read, static_cast<off_t>(kBound));
  EXPECT_LE(read, static_cast<off_t>(kBound + 4096));
  auto small = ReadFileToString("/proc/self/pagemap", 4096);
  ASSERT_FALSE(small);
  EXPECT_THAT(small.error().message, HasSubstr("more than 4096 bytes"));
}

TEST(ReadAll, ReadsUpToItsBoundExactly) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  ASSERT_TRUE(WriteAll(write_end.get(), std::string(5000, 'y')));
  write_end.Reset();
  auto text = ReadAll(read_end.get(), 5000, "the pipe");
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(text->size(), 5000u);
}

}  // namespace
}  // namespace crpid
