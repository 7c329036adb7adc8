// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for /proc/PID/maps parsing, selection and the sparse copy with
// its checksum. Runs in Bazel's sandbox on its own files and memfds.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "src/map_files_dump.h"
#include "src/proc_maps.h"
#include "src/sparse_copy.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

using ::testing::HasSubstr;

constexpr char kMaps[] =
    "55c1dd194000-55c1dd196000 r--p 00000000 fe:00 247134                     /usr/bin/cat\n"
    "55c21c356000-55c21c377000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f978983b000-7f978985d000 rw-p 00000000 00:00 0 \n"
    "7f33c374a000-7f33c384a000 rw-s 00000000 00:01 1030                       /memfd:sparse x (deleted)\n"
    "7f33c4690000-7f33c4692000 rw-s 00000000 00:01 1031                       /dev/zero (deleted)\n"
    "7f33c4700000-7f33c4701000 r--s 00002000 fe:00 99                         /tmp/with space (deleted)\n"
    "7f33c4800000-7f33c4801000 rw-s 00000000 00:01 32770                      /SYSV0000abcd (deleted)\n"
    "7f33c4900000-7f33c4901000 r--p 00000000 00:00 0\n";

TEST(ParseMaps, FieldsAndKinds) {
  auto maps = ParseMaps(kMaps);
  ASSERT_TRUE(maps.ok()) << maps.error().message;
  ASSERT_EQ(maps->size(), 8u);
  const Mapping& cat = (*maps)[0];
  EXPECT_EQ(cat.start, 0x55c1dd194000u);
  EXPECT_EQ(cat.end, 0x55c1dd196000u);
  EXPECT_EQ(cat.permissions, "r--p");
  EXPECT_EQ(cat.DeviceText(), "fe:00");
  EXPECT_EQ(cat.inode, 247134u);
  EXPECT_EQ(cat.path, "/usr/bin/cat");
  EXPECT_EQ(cat.kind, MappingKind::kFile);
  EXPECT_EQ(cat.MapFilesName(), "55c1dd194000-55c1dd196000");
  EXPECT_EQ((*maps)[1].kind, MappingKind::kAnonymous);
  EXPECT_EQ((*maps)[2].path, "");
  EXPECT_EQ((*maps)[3].kind, MappingKind::kMemfd);
  EXPECT_EQ((*maps)[3].path, "/memfd:sparse x (deleted)");
  EXPECT_EQ((*maps)[4].kind, MappingKind::kSharedAnonymous);
  EXPECT_EQ((*maps)[5].kind, MappingKind::kDeletedFile);
  EXPECT_EQ((*maps)[5].offset, 0x2000u);
  EXPECT_EQ((*maps)[5].path, "/tmp/with space (deleted)");
  EXPECT_EQ((*maps)[6].kind, MappingKind::kSysvShm);
  EXPECT_EQ((*maps)[7].kind, MappingKind::kAnonymous);
}

// The first SysV segment of an IPC namespace: shmid, hence inode, 0.
TEST(ParseMaps, SysvSegmentZeroIsNotAnonymous) {
  auto maps = ParseMaps(
      "7f30486f6000-7f30486f7000 rw-s 00000000 00:01 0                          "
      "/SYSV00000000 (deleted)\n");
  ASSERT_TRUE(maps.ok()) << maps.error().message;
  ASSERT_EQ(maps->size(), 1u);
  EXPECT_EQ((*maps)[0].kind, MappingKind::kSysvShm);
  EXPECT_TRUE(Selects(DumpSelection::kUnreachable, (*maps)[0].kind));
}

// A line ending at the inode (no path, no trailing blank) took a second
// sscanf that forgot the order check (found by tests/fuzz, proc_maps).
TEST(ParseMaps, EndBelowStartIsMalformed) {
  for (const char* line : {"7f2b04030000-2f2b04031000 ---p 00000000 00:00 0",
                           "7f2b04030000-2f2b04031000 ---p 00000000 00:00 0 \n",
                           "7f2b04030000-2f2b04031000 ---p 00000000 00:00 0 [heap]\n"}) {
    auto maps = ParseMaps(line);
    EXPECT_FALSE(maps.ok()) << line;
    if (!maps.ok()) {
      EXPECT_THAT(maps.error().message, HasSubstr("malformed /proc/PID/maps line"));
    }
  }
}

TEST(ParseMaps, RejectsGarbage) {
  auto maps = ParseMaps("not a maps line\n");
  ASSERT_FALSE(maps.ok());
  EXPECT_THAT(maps.error().message, HasSubstr("malformed /proc/PID/maps line"));
}

TEST(ParseMaps, OwnMapsParse) {
  auto maps = ReadMaps(getpid());
  ASSERT_TRUE(maps.ok()) << maps.error().message;
  EXPECT_GT(maps->size(), 5u);
}

TEST(Selects, DefaultIsWhatNoPathReaches) {
  EXPECT_TRUE(Selects(DumpSelection::kUnreachable, MappingKind::kMemfd));
  EXPECT_TRUE(Selects(DumpSelection::kUnreachable, MappingKind::kDeletedFile));
  EXPECT_TRUE(Selects(DumpSelection::kUnreachable, MappingKind::kSharedAnonymous));
  EXPECT_TRUE(Selects(DumpSelection::kUnreachable, MappingKind::kSysvShm));
  EXPECT_FALSE(Selects(DumpSelection::kUnreachable, MappingKind::kFile));
  EXPECT_TRUE(Selects(DumpSelection::kAll, MappingKind::kFile));
  EXPECT_FALSE(Selects(DumpSelection::kAll, MappingKind::kAnonymous));
  EXPECT_TRUE(Selects(DumpSelection::kMemfd, MappingKind::kMemfd));
  EXPECT_FALSE(Selects(DumpSelection::kMemfd, MappingKind::kDeletedFile));
  EXPECT_TRUE(Selects(DumpSelection::kDeleted, MappingKind::kDeletedFile));
  EXPECT_FALSE(Selects(DumpSelection::kDeleted, MappingKind::kMemfd));
}

class SparseCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = UniqueFd(memfd_create("source", MFD_CLOEXEC));
    ASSERT_TRUE(source_.valid());
    char pattern[] = "/tmp/crpid-copy-XXXXXX";
    destination_ = UniqueFd(mkstemp(pattern));
    ASSERT_TRUE(destination_.valid());
    destination_path_ = pattern;
  }
  void TearDown() override { unlink(destination_path_.c_str()); }
  void WriteAt(uint64_t offset, const std::string& data) {
    ASSERT_EQ(pwrite(source_.get(), data.data(), data.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(data.size()));
  }
  std::string ReadAt(int fd, uint64_t offset, size_t length) {
    std::string data(length, '\0');
    EXPECT_EQ(pread(fd, data.data(), length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
    return data;
  }
  UniqueFd source_;
  UniqueFd destination_;
  std::string destination_path_;
};

// What this process has read through read-like calls (/proc/self/io
// rchar) and its page faults, minor and major, so far.
struct IoCounts {
  uint64_t read_bytes = 0;
  uint64_t page_faults = 0;
};

IoCounts ReadIoCounts() {
  IoCounts counts;
  std::ifstream io("/proc/self/io");
  for (std::string name; io >> name;) {
    uint64_t value = 0;
    io >> value;
    if (name == "rchar:") counts.read_bytes = value;
  }
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  counts.page_faults = static_cast<uint64_t>(usage.ru_minflt + usage.ru_majflt);
  return counts;
}

TEST_F(SparseCopyTest, KeepsHolesAndBytes) {
  const uint64_t size = 1ull << 30;  // 1 GiB, two 4 KiB pages of data
  ASSERT_EQ(ftruncate(source_.get(), static_cast<off_t>(size)), 0);
  WriteAt(0, std::string(4096, 'a'));
  WriteAt(size / 2, std::string(4096, 'b'));
  uint64_t last_progress = 0;
  int windows = 0;
  const IoCounts before = ReadIoCounts();
  auto stats = CopySparse(source_.get(), destination_.get(), size,
                          [&](uint64_t copied) -> Status {
                            last_progress = copied;
                            ++windows;
                            return Ok{};
                          });
  const IoCounts after = ReadIoCounts();
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->size, size);
  EXPECT_EQ(stats->data_bytes, 8192u);
  EXPECT_EQ(last_progress, 8192u);
  struct stat st;
  ASSERT_EQ(fstat(destination_.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), size);
  EXPECT_LE(st.st_blocks * 512, 64 * 1024);
  // Holes cost nothing: two windows copied, and neither the copy nor its
  // checksum read or touched the GiB of holes (counted, not timed: reading
  // it would take 1 GiB of read() bytes or 16,384+ page faults).
  RecordProperty("read_bytes", std::to_string(after.read_bytes - before.read_bytes));
  RecordProperty("page_faults", std::to_string(after.page_faults - before.page_faults));
  EXPECT_EQ(windows, 2);
  EXPECT_LT(after.read_bytes - before.read_bytes, 8u << 20);
  EXPECT_LT(after.page_faults - before.page_faults, 2048u);
  EXPECT_EQ(ReadAt(destination_.get(), 0, 4096), std::string(4096, 'a'));
  EXPECT_EQ(ReadAt(destination_.get(), size / 2, 4096), std::string(4096, 'b'));
  EXPECT_EQ(ReadAt(destination_.get(), 4096, 4096), std::string(4096, '\0'));
  // The saved file's checksum, recomputed, is the copy's.
  auto again = ChecksumSparse(destination_.get());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->checksum, stats->checksum);
  EXPECT_EQ(again->checksum.size(), 32u);
}

TEST_F(SparseCopyTest, ChecksumChangesWithOneByte) {
  WriteAt(0, std::string(10000, 'x'));
  auto first = ChecksumSparse(source_.get());
  WriteAt(5000, "y");
  auto second = ChecksumSparse(source_.get());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->checksum, second->checksum);
}

// The checksum follows the logical bytes: a sparse file, its sparse copy
// and a dense file of the same bytes agree, also when data starts and ends
// mid-block and the size is not a multiple of the block.
TEST_F(SparseCopyTest, ChecksumIgnoresHolesButNotBytes) {
  const uint64_t size = (1 << 20) + 12345;
  ASSERT_EQ(ftruncate(source_.get(), static_cast<off_t>(size)), 0);
  WriteAt(4096 + 1000, std::string(5000, 'a'));       // mid-block, one page
  WriteAt(200 * 1024 - 10, std::string(20, 'b'));      // across a 64 KiB edge
  WriteAt(size - 7, "tail");                            // in the last partial block
  WriteAt(512 * 1024, std::string(128 * 1024, '\0'));  // data that is zeros
  auto copied = CopySparse(source_.get(), destination_.get(), size);
  ASSERT_TRUE(copied.ok()) << copied.error().message;

  char pattern[] = "/tmp/crpid-dense-XXXXXX";
  UniqueFd dense(mkstemp(pattern));
  ASSERT_TRUE(dense.valid());
  unlink(pattern);
  std::string bytes(size, '\0');
  ASSERT_EQ(pread(source_.get(), bytes.data(), size, 0), static_cast<ssize_t>(size));
  ASSERT_EQ(write(dense.get(), bytes.data(), size), static_cast<ssize_t>(size));

  auto of_source = ChecksumSparse(source_.get());
  auto of_copy = ChecksumSparse(destination_.get());
  auto of_dense = ChecksumSparse(dense.get());
  ASSERT_TRUE(of_source.ok() && of_copy.ok() && of_dense.ok());
  EXPECT_EQ(of_copy->checksum, copied->checksum);
  EXPECT_EQ(of_source->checksum, copied->checksum);
  EXPECT_EQ(of_dense->checksum, copied->checksum);
  // Format 1 followed the extents: the dense file differed.
  EXPECT_NE(ChecksumSparse(dense.get(), 1)->checksum,
            ChecksumSparse(destination_.get(), 1)->checksum);

  // One byte in a hole of a block that holds data, and in a block with none.
  for (uint64_t offset : {uint64_t{4096 + 7000}, uint64_t{900 * 1024}}) {
    ASSERT_EQ(pwrite(dense.get(), "x", 1, static_cast<off_t>(offset)), 1);
    auto changed = ChecksumSparse(dense.get());
    ASSERT_TRUE(changed.ok());
    EXPECT_NE(changed->checksum, copied->checksum) << offset;
    ASSERT_EQ(pwrite(dense.get(), "", 1, static_cast<off_t>(offset)), 1);
  }
  EXPECT_EQ(ChecksumSparse(dense.get())->checksum, copied->checksum);
}

TEST_F(SparseCopyTest, EmptyFile) {
  auto stats = CopySparse(source_.get(), destination_.get(), 0);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->data_bytes, 0u);
}

TEST_F(SparseCopyTest, SourceShorterThanPromisedIsAnError) {
  WriteAt(0, std::string(4096, 'a'));
  auto stats = CopySparse(source_.get(), destination_.get(), 1 << 20);
  ASSERT_FALSE(stats.ok());
  EXPECT_THAT(stats.error().message, HasSubstr("shrank"));
}

}  // namespace
}  // namespace crpid
