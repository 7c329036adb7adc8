// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The CLI end to end for input errors caught before any privileged step:
// exit code 125 and exactly one line on stderr. Needs no privilege.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <fstream>
#include <string>

#include "tests/test_support.h"

namespace crpid::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const char kCrpid[] = "cli/crpid";

void ExpectOneErrorLine(const RunResult& result, const std::string& text) {
  testing::ExpectOneErrorLine(result, "", text);
}

TEST(CliErrors, PidNotANumber) {
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "abc", "--", "true"}),
                     "fork-at: PID 'abc' is not a number");
}

// Whatever bytes the user gave, the error stays one line: control
// characters are shown escaped.
TEST(CliErrors, ControlCharactersStayOnOneLine) {
  RunResult result = RunProgram({kCrpid, "fork-at", "1\n2", "--", "true"});
  ExpectOneErrorLine(result, "fork-at: PID '1\\n2' is not a number");
  result = RunProgram({kCrpid, "set-mm", "--", "/nonexistent/a\nb\x1b[2J"});
  testing::ExpectOneErrorLine(result, "", "a\\nb\\x1b[2J", 127);  // not found
  result = RunProgram({kCrpid, "fork-at", "--no-such\noption", "1", "--", "true"});
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_THAT(result.err, HasSubstr("--no-such\\noption"));
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;
}

TEST(CliErrors, WaitAndCheckOptions) {
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "--wait", "-1", "5", "--", "true"}),
                     "--wait: Value -1 not in range 0 to 86400");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-tree", "--wait", "x", "f"}),
                     "--wait: Value x not in range 0 to 86400");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "--json", "5", "--", "true"}),
                     "fork-at: --json goes with --check");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-tree", "--json", "f"}),
                     "fork-tree: --json goes with --check");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "--check", "--detach", "5"}),
                     "fork-at: --check runs nothing");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "--check", "5", "x"}),
                     "fork-at: PID 'x' is not a number");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-tree", "--check", "/nonexistent/tree"}),
                     "fork-tree: ");
}

TEST(CliErrors, PidZeroAndNegative) {
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "0", "--", "true"}),
                     "PID 0 is not positive");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "-5", "--", "true"}),
                     "PID -5 is not positive");
}

TEST(CliErrors, PidAbovePidMaxSaysTheLimitAndTheSysctl) {
  const long pid_max = ReadLongFromFile("/proc/sys/kernel/pid_max");
  RunResult result =
      RunProgram({kCrpid, "fork-at", std::to_string(pid_max + 5), "--", "true"});
  ExpectOneErrorLine(result, "is not below kernel.pid_max (" +
                                 std::to_string(pid_max) + ")");
  EXPECT_THAT(result.err, HasSubstr("sysctl -w kernel.pid_max="));
}

TEST(CliErrors, PidOneOutsideANewNamespace) {
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "1", "--", "true"}),
                     "PID 1 is the init of this PID namespace");
}

TEST(CliErrors, NsLastPidWithAList) {
  ExpectOneErrorLine(
      RunProgram({kCrpid, "fork-at", "--method", "ns-last-pid", "50,60", "--", "true"}),
      "--method ns-last-pid takes a single PID");
}

TEST(CliErrors, MissingCommand) {
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "4000"}), "COMMAND is required");
}

TEST(CliErrors, UnknownMethod) {
  ExpectOneErrorLine(
      RunProgram({kCrpid, "fork-at", "--method", "magic", "4000", "--", "true"}),
      "--method");
}

// --pid-map: each problem with the map or the key is one line naming it;
// nothing needs a capability before the map is read.
std::string WritePidMap(const std::string& name, const std::string& content) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

TEST(CliErrors, PidMapNeedsAKey) {
  const std::string map = WritePidMap("map-nokey", "0 4000\n");
  ExpectOneErrorLine(
      RunProgram({"env", "-u", "SLURM_PROCID", kCrpid, "fork-at", "--pid-map", map,
                  "--", "true"}),
      "fork-at: --pid-map needs a key: neither --key nor SLURM_PROCID is set; "
      "give --key KEY, or run it as a Slurm task (srun)");
}

TEST(CliErrors, PidMapKeyAbsent) {
  const std::string map = WritePidMap("map-absent", "0 4000\n1 4001\n");
  ExpectOneErrorLine(
      RunProgram({kCrpid, "fork-at", "--pid-map", map, "--key", "7", "--", "true"}),
      "fork-at: no key '7' in PID map " + map);
  ExpectOneErrorLine(RunProgram({"env", "SLURM_PROCID=3", kCrpid, "fork-at",
                                 "--pid-map", map, "--", "true"}),
                     "fork-at: no key '3' in PID map " + map);
}

TEST(CliErrors, PidMapDamagedLines) {
  const std::string duplicate = WritePidMap("map-dup", "# job\n0 4000\n0 4001\n");
  ExpectOneErrorLine(
      RunProgram({kCrpid, "fork-at", "--pid-map", duplicate, "--key", "0", "--", "true"}),
      "fork-at: PID map " + duplicate + ": line 3: key '0' again (first on line 2)");
  const std::string malformed = WritePidMap("map-bad", "0 4000\n\n1 40x1\n");
  ExpectOneErrorLine(
      RunProgram({kCrpid, "fork-at", "--pid-map", malformed, "--key", "0", "--", "true"}),
      "fork-at: PID map " + malformed + ": line 3: PID '40x1' is not a number");
  const std::string control = WritePidMap("map-esc", "0 4000\n\x1b]0;owned\x07 1\n");
  RunResult escaped =
      RunProgram({kCrpid, "fork-at", "--pid-map", control, "--key", "0", "--", "true"});
  ExpectOneErrorLine(escaped, "line 2: byte 0x1b at column 1 is not printable ASCII");
  EXPECT_EQ(escaped.err.find('\x1b'), std::string::npos);  // never echoed
}

TEST(CliErrors, PidMapNotARegularFile) {
  const std::string fifo = WritePidMap("unused", "") + "-fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ExpectOneErrorLine(  // at once: a plain open() would wait for a writer
      RunProgram({kCrpid, "fork-at", "--pid-map", fifo, "--key", "0", "--", "true"}, 60),
      fifo + " is not a regular file; give a PID map that is a regular file");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "--pid-map", "/nonexistent/map",
                                 "--key", "0", "--", "true"}),
                     "/nonexistent/map");
}

TEST(CliErrors, PidMapBadKeys) {
  const std::string map = WritePidMap("map-keys", "0 4000\n");
  ExpectOneErrorLine(RunProgram({"env", "SLURM_PROCID=", kCrpid, "fork-at", "--pid-map",
                                 map, "--", "true"}),
                     "fork-at: SLURM_PROCID is empty");
  ExpectOneErrorLine(
      RunProgram({kCrpid, "fork-at", "--pid-map", map, "--key", "a b", "--", "true"}),
      "fork-at: --key holds byte 0x20");
}

TEST(CliErrors, PidMapUsage) {
  const std::string map = WritePidMap("map-usage", "0 4000\n");
  ExpectOneErrorLine(
      RunProgram({kCrpid, "fork-at", "--pid-map", map, "--key", "0", "4000", "--", "true"}),
      "fork-at: both a PID (4000) and --pid-map given; give one of them");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "--pid-map", map, "--key", "0"}),
                     "fork-at: COMMAND is required");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at", "--key", "0", "4000", "--", "true"}),
                     "fork-at: --key goes with --pid-map");
  ExpectOneErrorLine(RunProgram({kCrpid, "fork-at"}), "fork-at: PID is required");
}

// The key picks the line: SLURM_PROCID=1 takes line 2's PID, which is past
// pid_max here, so the error names it (no capability needed to get there).
TEST(CliErrors, PidMapKeyPicksTheLine) {
  const long pid_max = ReadLongFromFile("/proc/sys/kernel/pid_max");
  const std::string map = WritePidMap(
      "map-pick", "0 " + std::to_string(pid_max + 3) + "\n1 " +
                      std::to_string(pid_max + 7) + "\n");
  ExpectOneErrorLine(RunProgram({"env", "SLURM_PROCID=1", kCrpid, "fork-at", "--pid-map",
                                 map, "--", "true"}),
                     "PID " + std::to_string(pid_max + 7) + " is not below kernel.pid_max");
  ExpectOneErrorLine(
      RunProgram({"env", "SLURM_PROCID=1", kCrpid, "fork-at", "--pid-map", map, "--key",
                  "0", "--", "true"}),
      "PID " + std::to_string(pid_max + 3) + " is not below kernel.pid_max");
}

TEST(CliErrors, NoSubcommand) {
  RunResult result = RunProgram({kCrpid});
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_THAT(result.err, HasSubstr("subcommand"));
}

TEST(CliErrors, MapFilesDumpUsage) {
  ExpectOneErrorLine(RunProgram({kCrpid, "map-files-dump", "4000"}),
                     "map-files-dump: give -o DIR to save the files, or --list");
  ExpectOneErrorLine(RunProgram({kCrpid, "map-files-dump", "--json", "4000"}),
                     "--json goes with --list");
  ExpectOneErrorLine(RunProgram({kCrpid, "map-files-dump", "--verify", "x", "4000"}),
                     "--verify DIR takes no PID");
  ExpectOneErrorLine(RunProgram({kCrpid, "map-files-dump", "-o", "x"}),
                     "PID is required");
  ExpectOneErrorLine(RunProgram({kCrpid, "map-files-dump", "abc", "-o", "x"}),
                     "PID 'abc' is not a number");
  ExpectOneErrorLine(RunProgram({kCrpid, "map-files-dump", "--only", "some", "1", "-o", "x"}),
                     "--only");
}

TEST(CliErrors, VerifyOfAMissingDump) {
  ExpectOneErrorLine(RunProgram({kCrpid, "map-files-dump", "--verify", "/nonexistent"}),
                     "cannot open /nonexistent/manifest.json: No such file or directory");
}

// The installed binary is one static-pie file: no interpreter, no shared
// library to trust or load, and still randomized (ET_DYN).
TEST(Cli, BinaryIsStaticPie) {
  CRPID_SKIP_IN_SANITIZER_BUILD("ASan links crpid dynamically");
  std::ifstream in(kCrpid, std::ios::binary);
  Elf64_Ehdr header;
  ASSERT_TRUE(in.read(reinterpret_cast<char*>(&header), sizeof header));
  EXPECT_EQ(header.e_type, ET_DYN);
  bool has_interpreter = false;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr program;
    in.seekg(static_cast<std::streamoff>(header.e_phoff + i * header.e_phentsize));
    ASSERT_TRUE(in.read(reinterpret_cast<char*>(&program), sizeof program));
    has_interpreter |= program.p_type == PT_INTERP;
  }
  EXPECT_FALSE(has_interpreter);
}

TEST(Cli, VersionAndHelp) {
  RunResult version = RunProgram({kCrpid, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, StartsWith("crpid "));
  RunResult help = RunProgram({kCrpid, "fork-at", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Examples:"));
  EXPECT_THAT(help.out, HasSubstr("--method"));
  EXPECT_THAT(help.out, HasSubstr("127 COMMAND not found"));
}

}  // namespace
}  // namespace crpid::testing
