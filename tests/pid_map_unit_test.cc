// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The PID map parser (src/pid_map.h): what it accepts, and one error naming
// the line for each kind of damage.
#include "src/pid_map.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/growth.h"

namespace crpid {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ParseError(std::string_view text) {
  auto map = ParsePidMap(text);
  EXPECT_FALSE(map.ok()) << "accepted: " << text;
  if (map.ok()) return "";
  EXPECT_EQ(map.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(map.error().hint, HasSubstr("KEY PID"));
  return map.error().message;
}

TEST(PidMap, ParsesKeysCommentsBlanksAndNestedLists) {
  auto map = ParsePidMap(
      "# job 1234, checkpointed on node[1-3]\n"
      "0 4242\n"
      "\n"
      "   \t\n"
      "  # indented comment\n"
      "0.child\t4243\n"
      "node2   4242,17\n"
      "1 4242");  // no final newline
  ASSERT_TRUE(map.ok()) << map.error().message;
  ASSERT_EQ(map->size(), 4u);
  EXPECT_EQ((*map)[0].key, "0");
  EXPECT_THAT((*map)[0].pids, ElementsAre(4242));
  EXPECT_EQ((*map)[1].key, "0.child");
  EXPECT_EQ((*map)[1].line, 6u);
  EXPECT_THAT((*map)[2].pids, ElementsAre(4242, 17));
  EXPECT_EQ((*map)[3].key, "1");
}

TEST(PidMap, EmptyMapParses) {
  auto map = ParsePidMap("");
  ASSERT_TRUE(map.ok());
  EXPECT_TRUE(map->empty());
}

TEST(PidMap, LookUp) {
  auto map = ParsePidMap("0 100\n1 200,3\n");
  ASSERT_TRUE(map.ok());
  auto one = LookUpPidMap(*map, "1");
  ASSERT_TRUE(one.ok());
  EXPECT_THAT(*one, ElementsAre(200, 3));
  auto missing = LookUpPidMap(*map, "7");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(missing.error().message, "no key '7' in the PID map");
}

TEST(PidMap, FieldCount) {
  EXPECT_EQ(ParseError("0 100\n1\n"), "line 2: 1 fields, expected 2 (KEY PID[,PID…])");
  EXPECT_EQ(ParseError("0 100 200\n"), "line 1: 3 fields, expected 2 (KEY PID[,PID…])");
  EXPECT_EQ(ParseError("0 100 # trailing comment\n"),
            "line 1: 5 fields, expected 2 (KEY PID[,PID…])");
}

TEST(PidMap, BadPidsCarryParsePidListsReason) {
  EXPECT_EQ(ParseError("\n\n0 abc\n"), "line 3: PID 'abc' is not a number");
  EXPECT_EQ(ParseError("0 0\n"), "line 1: PID 0 is not positive");
  EXPECT_EQ(ParseError("0 -4\n"), "line 1: PID -4 is not positive");
  EXPECT_EQ(ParseError("0 99999999999\n"), "line 1: PID 99999999999 is out of range");
  EXPECT_EQ(ParseError("0 1,,2\n"), "line 1: empty PID in '1,,2'");
  EXPECT_EQ(ParseError("0 +5\n"), "line 1: PID '+5' is not a number");
}

TEST(PidMap, DuplicateKeyNamesBothLines) {
  EXPECT_EQ(ParseError("0 100\n1 200\n0 300\n"),
            "line 3: key '0' again (first on line 1)");
}

// Duplicate keys are found by lookup, not by a scan per line (a 1 MiB map
// of 140,000 keys took 11 s): the CPU time for 140,000 keys, against
// 14,000, grows by a ratio far below a quadratic's 100 (no wall-clock bound).
std::string ManyKeys(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) text += std::to_string(i) + " 1\n";
  return text;
}

TEST(PidMap, ManyKeysParseInLinearTime) {
  const std::string many = ManyKeys(140000);
  const std::string fewer = ManyKeys(14000);
  size_t parsed = 0;
  const double many_seconds = testing::LeastThreadCpuSeconds(
      [&] {
        auto map = ParsePidMap(many);
        parsed = map.ok() ? map->size() : 0;
      },
      /*repeats=*/2);
  EXPECT_EQ(parsed, 140000u);
  const double fewer_seconds = testing::LeastThreadCpuSeconds([&] {
    auto map = ParsePidMap(fewer);
    parsed = map.ok() ? map->size() : 0;
  });
  EXPECT_EQ(parsed, 14000u);
  const double ratio = many_seconds / std::max(fewer_seconds, 1e-6);
  RecordProperty("cpu_ratio_10x", std::to_string(ratio));
  EXPECT_LT(ratio, testing::kMaxLinearRatio)
      << many_seconds << " s for 140,000 keys, " << fewer_seconds << " s for 14,000";
}

TEST(PidMap, ControlAndNonAsciiBytesAreRefused) {
  EXPECT_EQ(ParseError("0 100\r\n"), "line 1: byte 0x0d at column 6 is not printable ASCII");
  EXPECT_EQ(ParseError(std::string("0 1\0" "00\n", 7)),
            "line 1: byte 0x00 at column 4 is not printable ASCII");
  EXPECT_EQ(ParseError("k\x1b[2J 100\n"),
            "line 1: byte 0x1b at column 2 is not printable ASCII");
  EXPECT_EQ(ParseError("r\xc3\xa9 100\n"),
            "line 1: byte 0xc3 at column 2 is not printable ASCII");
}

TEST(PidMap, LongLineIsRefused) {
  std::string line = "0 " + std::string(kMaxPidMapLineBytes, '1') + "\n";
  EXPECT_EQ(ParseError(line), "line 1: longer than 1024 bytes");
}

TEST(PidMap, TooManyNestedPids) {
  std::string list = "1";
  for (int i = 0; i < 32; ++i) list += ",1";
  EXPECT_THAT(ParseError("0 " + list + "\n"),
              HasSubstr("line 1: PID list has 33 entries"));
}

TEST(PidMap, KeyValidation) {
  EXPECT_TRUE(ValidatePidMapKey("3.child", "--key").ok());
  EXPECT_TRUE(ValidatePidMapKey("node-7:rank_2@x", "--key").ok());
  auto empty = ValidatePidMapKey("", "SLURM_PROCID");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message, "SLURM_PROCID is empty");
  auto blank = ValidatePidMapKey("a b", "--key");
  ASSERT_FALSE(blank.ok());
  EXPECT_EQ(blank.error().message, "--key holds byte 0x20");
  auto hash = ValidatePidMapKey("#1", "--key");
  ASSERT_FALSE(hash.ok());
  EXPECT_EQ(hash.error().message, "--key '#1' starts with '#'");
  auto long_key = ValidatePidMapKey(std::string(256, 'k'), "--key");
  ASSERT_FALSE(long_key.ok());
  EXPECT_EQ(long_key.error().message, "--key is 256 bytes long, more than 255");
}

class PidMapFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp");
  }
  std::string Write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::trunc) << content;
    return path;
  }
  std::string dir_;
};

TEST_F(PidMapFile, ReadsAFile) {
  auto map = ReadPidMap(Write("map", "0 4242\n0.child 4243\n"));
  ASSERT_TRUE(map.ok()) << map.error().message;
  EXPECT_EQ(map->size(), 2u);
}

TEST_F(PidMapFile, ErrorsNameThePath) {
  std::string path = Write("bad", "0 4242\nx\n");
  auto map = ReadPidMap(path);
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.error().message, "PID map " + path + ": line 2: 1 fields, expected 2 (KEY PID[,PID…])");
}

TEST_F(PidMapFile, MissingFile) {
  auto map = ReadPidMap(dir_ + "/absent");
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.error().kind, ErrorKind::kNotFound);
  EXPECT_THAT(map.error().message, HasSubstr(dir_ + "/absent"));
}

TEST_F(PidMapFile, FifoIsRefusedWithoutBlocking) {
  std::string path = dir_ + "/fifo";
  ::unlink(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto map = ReadPidMap(path);  // would block forever in a plain open()
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(map.error().message, HasSubstr("is not a regular file"));
  EXPECT_THAT(map.error().hint, HasSubstr("regular file"));
}

TEST_F(PidMapFile, DirectoryAndDeviceAreRefused) {
  auto directory = ReadPidMap(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.error().message, HasSubstr("is not a regular file"));
  auto device = ReadPidMap("/dev/zero");  // endless: must not be read
  ASSERT_FALSE(device.ok());
  EXPECT_THAT(device.error().message, HasSubstr("is not a regular file"));
}

TEST_F(PidMapFile, OversizedFileIsRefused) {
  std::string path = dir_ + "/big";
  {
    std::ofstream out(path, std::ios::trunc);
    for (size_t written = 0; written <= kMaxPidMapBytes; written += 8) out << "# pad..\n";
  }
  auto map = ReadPidMap(path);
  ASSERT_FALSE(map.ok());
  EXPECT_THAT(map.error().message, HasSubstr("more than 1048576"));
}

}  // namespace
}  // namespace crpid
