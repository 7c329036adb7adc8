// fork-at --pid-map for real: crpid as users start it (nobody, from a
// process holding no capability), the key from SLURM_PROCID or --key, the
// PID read back from the command itself and /proc. Needs root (setcap,
// setuid): skipped elsewhere, failed in CI.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace crpid::testing {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kShowPidAndCaps = {
    "sh", "-c",
    "echo $$; while read -r line; do case $line in Cap*) echo \"$line\";; "
    "esac; done < /proc/$$/status"};

class PidMap : public InstalledCrpidTest {
 protected:
  // A PID map nobody can read, in the copies' directory.
  static std::string WriteMap(const std::string& content) {
    const std::string path = copies_.dir + "/pids";
    std::ofstream(path, std::ios::trunc) << content;
    ::chmod(path.c_str(), 0644);
    return path;
  }
  static std::vector<std::string> ForkAtFromMap(const std::string& procid,
                                                const std::vector<std::string>& options) {
    std::vector<std::string> argv = {"env", "SLURM_PROCID=" + procid, copies_.with_ep,
                                     "fork-at"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), kShowPidAndCaps.begin(), kShowPidAndCaps.end());
    return AsNobody(argv);
  }
};

void ExpectAtPidWithoutCapabilities(const RunResult& result, pid_t pid) {
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.substr(0, result.out.find('\n')), std::to_string(pid));
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapAmb"}) {
    EXPECT_THAT(result.out, HasSubstr(std::string(set) + ":\t0000000000000000")) << set;
  }
}

TEST_F(PidMap, SlurmProcidPicksTheTasksLine) {
  const pid_t first = FreePid();
  const pid_t second = FreePid(2000);
  ASSERT_NE(first, second);
  const std::string map = WriteMap("# job\n0 " + std::to_string(first) + "\n1 " +
                                   std::to_string(second) + "\n");
  ExpectAtPidWithoutCapabilities(RunProgram(ForkAtFromMap("1", {"--pid-map", map})), second);
  ExpectAtPidWithoutCapabilities(RunProgram(ForkAtFromMap("0", {"--pid-map", map})), first);
}

TEST_F(PidMap, KeyOverridesSlurmProcid) {
  const pid_t child = FreePid();
  const std::string map = WriteMap("0 1\n0.child " + std::to_string(child) + "\n");
  ExpectAtPidWithoutCapabilities(
      RunProgram(ForkAtFromMap("0", {"--pid-map", map, "--key", "0.child"})), child);
}

TEST_F(PidMap, TakenPidNamesTheHolderAndRunsNothing) {
  const pid_t pid = FreePid();
  BackgroundProcess holder({copies_.with_ep, "fork-at", std::to_string(pid), "--", "sleep",
                            "30"});
  ASSERT_TRUE(WaitForComm(pid, "sleep"));
  const std::string map = WriteMap("0 " + std::to_string(pid) + "\n");
  RunResult result = RunProgram(ForkAtFromMap("0", {"--pid-map", map}));
  ExpectOneErrorLine(result, "fork-at",
                     "PID " + std::to_string(pid) + " is held by process 'sleep' (uid 0)");
  ::kill(holder.pid(), SIGTERM);
  holder.Wait();
}

// A map another user owns, or one others may write, would let them pick
// the PIDs this user's command runs at: refused, like ssh's StrictModes
// (hostile-user review of --pid-map).
TEST_F(PidMap, MapOthersCanWriteIsRefused) {
  const pid_t pid = FreePid();
  const std::string map = WriteMap("0 " + std::to_string(pid) + "\n");
  ASSERT_EQ(::chown(map.c_str(), 1234, 1234), 0);
  ExpectOneErrorLine(RunProgram(ForkAtFromMap("0", {"--pid-map", map})), "fork-at",
                     "can be written by others than you (owner uid 1234, mode 0644)");
  ASSERT_EQ(::chown(map.c_str(), 0, 0), 0);  // root's: as trusted as the system
  ::chmod(map.c_str(), 0646);
  ExpectOneErrorLine(RunProgram(ForkAtFromMap("0", {"--pid-map", map})), "fork-at",
                     "mode 0646");
  ::chmod(map.c_str(), 0644);
  ExpectAtPidWithoutCapabilities(RunProgram(ForkAtFromMap("0", {"--pid-map", map})), pid);
}

// An explicit empty --key is an error, not "use SLURM_PROCID".
TEST_F(PidMap, EmptyKeyIsRefused) {
  const std::string map = WriteMap("0 " + std::to_string(FreePid()) + "\n");
  ExpectOneErrorLine(RunProgram(ForkAtFromMap("0", {"--pid-map", map, "--key", ""})),
                     "fork-at", "--key is empty");
}

}  // namespace
}  // namespace crpid::testing
