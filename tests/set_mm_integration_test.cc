// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// set-mm for real, outside Bazel's sandbox: the probe (static, static-pie,
// dynamic) is run through crpid set-mm with the capability (as nobody),
// without it, as root, inside `unshare -Ur` and composed with fork-at, and
// reports what the kernel shows of it: exe link, argv, environ, auxv,
// /proc/self/stat fields, capability sets. Needs root: skipped elsewhere,
// failed in CI.
#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace crpid::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const char* const kProbes[] = {"set_mm_probe_dynamic", "set_mm_probe_static_pie",
                               "set_mm_probe_static"};

// The files the probe reported mapped ("mapped=PATH" lines).
std::vector<std::string> MappedFiles(const std::string& output) {
  std::vector<std::string> files;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("mapped=", 0) == 0) files.push_back(line.substr(7));
  }
  return files;
}

std::map<std::string, std::string> ParseProbe(const std::string& output) {
  std::map<std::string, std::string> values;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t separator = line.find_first_of("=:");
    if (separator == std::string::npos) continue;
    std::string value = line.substr(separator + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    values[line.substr(0, separator)] = value;
  }
  return values;
}

class SetMm : public InstalledCrpidTest {
 protected:
  static void SetUpTestSuite() {
    InstalledCrpidTest::SetUpTestSuite();
    if (copies_.dir.empty()) return;
    for (const char* probe : kProbes) copies_.CopyHelper(std::string("tests/") + probe);
  }

  static std::string Probe(const char* name) { return copies_.dir + "/" + name; }

  static std::vector<std::string> SetMmArgs(const std::string& binary,
                                            std::vector<std::string> program,
                                            const std::string& exe = "/bin/true") {
    std::vector<std::string> argv = {"env", "CRPID_PROBE=from the caller", binary,
                                     "set-mm"};
    if (!exe.empty()) {
      argv.push_back("--exe");
      argv.push_back(exe);
    }
    argv.push_back("--");
    argv.insert(argv.end(), program.begin(), program.end());
    return argv;
  }

  // Everything the probe checks of itself, for a run of `probe a "b c"`.
  static void ExpectLikeExec(const RunResult& result, const std::string& probe,
                             const std::string& exe, bool unprivileged) {
    ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
    auto values = ParseProbe(result.out);
    EXPECT_EQ(values["done"], "1") << result.out;
    EXPECT_EQ(values["exe"], exe);
    EXPECT_EQ(values["argc"], "3");
    EXPECT_EQ(values["argv0"], probe);
    EXPECT_EQ(values["argv1"], "a");
    EXPECT_EQ(values["argv2"], "b c");
    EXPECT_EQ(values["env_CRPID_PROBE"], "from the caller");
    EXPECT_EQ(values["comm"], std::filesystem::path(probe).filename().string().substr(0, 15));
    for (const char* check :
         {"cmdline_matches", "environ_matches", "auxv_matches", "at_random_set",
          "at_sysinfo_ehdr_set", "code_inside_at_phdr", "entry_in_code",
          "arg_range_is_argv", "env_range_starts_at_environ", "stack_below_argv",
          "data_before_brk", "malloc", "thread", "signal"}) {
      EXPECT_EQ(values[check], "1") << check << "\n" << result.out;
    }
    EXPECT_EQ(values["at_secure"], "0");
    EXPECT_EQ(values["at_execfn"], probe);
    EXPECT_EQ(values["at_platform"], "x86_64");
    EXPECT_EQ(values["at_pagesz"], "4096");
    EXPECT_EQ(values["at_base_set"],
              probe.find("dynamic") != std::string::npos ? "1" : "0");
    // crpid's image is gone: PR_SET_MM_MAP would have refused otherwise.
    EXPECT_FALSE(MappedFiles(result.out).empty());
    for (const std::string& file : MappedFiles(result.out)) {
      EXPECT_THAT(std::filesystem::path(file).filename().string(),
                  ::testing::Not(StartsWith("crpid")))
          << result.out;
    }
    EXPECT_EQ(values["dumpable"], "1");
    EXPECT_EQ(values["sigusr1_blocked"], "0");
    if (unprivileged) {
      EXPECT_EQ(values["at_uid"], "65534");
      for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapAmb"}) {
        EXPECT_EQ(values[set], "0000000000000000") << set;
      }
    }
  }

  static void ExpectOneErrorLine(const RunResult& result, int code,
                                 const std::string& text) {
    testing::ExpectOneErrorLine(result, "set-mm", text, code);
  }

  // A copy of the static probe with one ELF header field changed.
  static std::string PatchedProbe(const std::string& name,
                                  const std::function<void(std::vector<char>&)>& patch,
                                  const char* base = "set_mm_probe_static") {
    std::ifstream in(Probe(base), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    patch(bytes);
    const std::string path = copies_.dir + "/" + name;
    std::ofstream(path, std::ios::binary).write(bytes.data(),
                                                static_cast<std::streamsize>(bytes.size()));
    ::chmod(path.c_str(), 0755);
    return path;
  }

};

// An ELF patch: the last PT_LOAD's p_memsz set to memsz.
std::function<void(std::vector<char>&)> LastLoadMemsz(uint64_t memsz) {
  return [memsz](std::vector<char>& bytes) {
    Elf64_Ehdr header;
    std::memcpy(&header, bytes.data(), sizeof header);
    Elf64_Phdr* last_load = nullptr;
    for (int i = 0; i < header.e_phnum; ++i) {
      auto* phdr = reinterpret_cast<Elf64_Phdr*>(bytes.data() + header.e_phoff +
                                                 i * sizeof(Elf64_Phdr));
      if (phdr->p_type == PT_LOAD) last_load = phdr;
    }
    last_load->p_memsz = memsz;
  };
}

// An ELF patch: PT_INTERP's string replaced by path (no longer than the
// original).
std::function<void(std::vector<char>&)> ProgramInterpreter(const std::string& path) {
  return [path](std::vector<char>& bytes) {
    Elf64_Ehdr header;
    std::memcpy(&header, bytes.data(), sizeof header);
    for (int i = 0; i < header.e_phnum; ++i) {
      Elf64_Phdr phdr;
      std::memcpy(&phdr, bytes.data() + header.e_phoff + i * sizeof(Elf64_Phdr), sizeof phdr);
      if (phdr.p_type != PT_INTERP) continue;
      ASSERT_LT(path.size(), phdr.p_filesz);
      std::memset(bytes.data() + phdr.p_offset, 0, phdr.p_filesz);
      std::memcpy(bytes.data() + phdr.p_offset, path.data(), path.size());
    }
  };
}

TEST_F(SetMm, CapabilityPresentAsNobody) {
  for (const char* name : kProbes) {
    SCOPED_TRACE(name);
    ExpectLikeExec(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {Probe(name), "a", "b c"}))),
                   Probe(name), "/usr/bin/true", /*unprivileged=*/true);
  }
}

TEST_F(SetMm, InstalledPlusP) {
  ExpectLikeExec(
      RunProgram(AsNobody(SetMmArgs(copies_.with_p, {Probe("set_mm_probe_dynamic"), "a", "b c"}))),
      Probe("set_mm_probe_dynamic"), "/usr/bin/true", true);
}

TEST_F(SetMm, ExeDefaultsToTheProgram) {
  const std::string probe = Probe("set_mm_probe_static_pie");
  ExpectLikeExec(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {probe, "a", "b c"}, ""))),
                 probe, probe, true);
}

TEST_F(SetMm, CapabilityAbsentNeverStartsTheProgram) {
  RunResult result = RunProgram(
      AsNobody(SetMmArgs(copies_.without, {Probe("set_mm_probe_dynamic"), "a", "b c"})));
  ExpectOneErrorLine(result, 125, "the kernel refuses to set the exe link: Operation not permitted");
  EXPECT_THAT(result.err, HasSubstr("setcap cap_checkpoint_restore+ep " + copies_.without));
}

TEST_F(SetMm, AsRoot) {
  for (const char* name : kProbes) {
    SCOPED_TRACE(name);
    ExpectLikeExec(RunProgram(SetMmArgs(copies_.without, {Probe(name), "a", "b c"})),
                   Probe(name), "/usr/bin/true", /*unprivileged=*/false);
  }
}

TEST_F(SetMm, InsideAUserNamespaceHoldingTheCapability) {
  std::vector<std::string> argv = {"unshare", "-Ur"};
  for (const std::string& arg :
       SetMmArgs(copies_.without, {Probe("set_mm_probe_dynamic"), "a", "b c"})) {
    argv.push_back(arg);
  }
  RunResult result = RunProgram(AsNobody(argv));
  ExpectLikeExec(result, Probe("set_mm_probe_dynamic"), "/usr/bin/true", false);
  EXPECT_EQ(ParseProbe(result.out)["at_uid"], "0");
}

TEST_F(SetMm, ComposedWithForkAt) {
  const pid_t pid = FreePid();
  std::vector<std::string> argv = {copies_.with_ep, "fork-at", std::to_string(pid), "--"};
  for (const std::string& arg :
       SetMmArgs(copies_.with_ep, {Probe("set_mm_probe_dynamic"), "a", "b c"},
                 "/usr/bin/true")) {
    argv.push_back(arg);
  }
  RunResult result = RunProgram(AsNobody(argv));
  ExpectLikeExec(result, Probe("set_mm_probe_dynamic"), "/usr/bin/true", true);
  EXPECT_EQ(ParseProbe(result.out)["pid"], std::to_string(pid));
}

TEST_F(SetMm, ShellAndScripts) {
  RunResult shell = RunProgram(AsNobody(SetMmArgs(
      copies_.with_ep,
      {"sh", "-c", "readlink /proc/$$/exe; tr '\\0' ' ' < /proc/$$/cmdline; echo; cat /proc/$$/comm"},
      "")));
  ASSERT_EQ(shell.exit_code, 0) << shell.err;
  EXPECT_EQ(shell.out,
            std::filesystem::canonical("/bin/sh").string() +
                "\nsh -c readlink /proc/$$/exe; tr '\\0' ' ' < /proc/$$/cmdline; echo; cat "
                "/proc/$$/comm \nsh\n");
  const std::string script = copies_.dir + "/script.sh";
  std::ofstream(script) << "#!/bin/sh -e\necho \"$0\" \"$@\"; cat /proc/$$/comm\n";
  ::chmod(script.c_str(), 0755);
  RunResult scripted = RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {script, "x"}, "")));
  EXPECT_EQ(scripted.exit_code, 0) << scripted.err;
  EXPECT_EQ(scripted.out, script + " x\nscript.sh\n");
}

// execve follows five levels of #! (exec_binprm: depth > 5 is ELOOP), and
// a loop gives ELOOP, 126 (second hostile-user review: crpid stopped at four).
TEST_F(SetMm, FiveLevelsOfScriptsLikeExecve) {
  std::string previous = "/bin/sh";
  for (int level = 1; level <= 6; ++level) {
    const std::string script = copies_.dir + "/l" + std::to_string(level);
    std::ofstream(script) << "#!" << previous << (level == 1 ? "\necho ran $#\n" : " x\n");
    ::chmod(script.c_str(), 0755);
    previous = script;
  }
  RunResult five = RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {copies_.dir + "/l5"}, "")));
  EXPECT_EQ(five.exit_code, 0) << five.err;
  RunResult direct = RunProgram(AsNobody({copies_.dir + "/l5"}));
  EXPECT_EQ(five.out, direct.out);
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {copies_.dir + "/l6"}, ""))),
                     126, "more than five levels");
  const std::string loop = copies_.dir + "/loop";
  std::ofstream(loop) << "#!" << loop << "\n";
  ::chmod(loop.c_str(), 0755);
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {loop}, ""))), 126,
                     "more than five levels");
}

// The kernel refuses a PT_INTERP without its terminating NUL (ENOEXEC);
// crpid loaded ld.so and the program crashed after the point of no return.
TEST_F(SetMm, InterpreterWithoutItsNulIsRefused) {
  const std::string unterminated = PatchedProbe(
      "no-nul-interp",
      [](std::vector<char>& bytes) {
        Elf64_Ehdr header;
        std::memcpy(&header, bytes.data(), sizeof header);
        for (int i = 0; i < header.e_phnum; ++i) {
          Elf64_Phdr phdr;
          std::memcpy(&phdr, bytes.data() + header.e_phoff + i * sizeof(Elf64_Phdr),
                      sizeof phdr);
          if (phdr.p_type == PT_INTERP) bytes[phdr.p_offset + phdr.p_filesz - 1] = '/';
        }
      },
      "set_mm_probe_dynamic");
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {unterminated}))), 126,
                     "PT_INTERP not NUL-terminated");
}

TEST_F(SetMm, PythonOneLiner) {
  if (!std::filesystem::exists("/usr/bin/python3")) {
    CRPID_SKIP_OR_FAIL("python3 is not installed");
  }
  RunResult result = RunProgram(AsNobody(SetMmArgs(
      copies_.with_ep,
      {"/usr/bin/python3", "-c",
       "import os, sys, threading; t = threading.Thread(target=lambda: None); t.start(); "
       "t.join(); print(os.readlink('/proc/self/exe'), sys.argv[1:], os.getpid() > 0)",
       "arg"},
      "/usr/bin/true")));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "/usr/bin/true ['arg'] True\n");
}

TEST_F(SetMm, ProgramNotFound) {
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {"no-such-program-x"}))),
                     127, "cannot find 'no-such-program-x' in PATH");
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {"/no/such/file"}))), 127,
                     "cannot open /no/such/file: No such file or directory");
}

TEST_F(SetMm, ProgramNotElf) {
  const std::string text = copies_.dir + "/text";
  std::ofstream(text) << "just text\n";
  ::chmod(text.c_str(), 0755);
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {text}))), 126,
                     text + ": not an ELF file");
}

TEST_F(SetMm, ProgramForAnotherMachine) {
  const std::string arm = PatchedProbe("arm-probe", [](std::vector<char>& bytes) {
    const uint16_t aarch64 = EM_AARCH64;
    std::memcpy(bytes.data() + offsetof(Elf64_Ehdr, e_machine), &aarch64, 2);
  });
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {arm}))), 126,
                     "built for another machine (e_machine 183, not x86_64)");
}

TEST_F(SetMm, ProgramNotExecutable) {
  const std::string copy = copies_.dir + "/not-executable";
  std::filesystem::copy_file(Probe("set_mm_probe_static"), copy);
  ::chmod(copy.c_str(), 0644);
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {copy}))), 126,
                     copy + " is not executable by you: Permission denied");
}

TEST_F(SetMm, ExeFileMustBeAnExecutableRegularFile) {
  const std::string probe = Probe("set_mm_probe_static");
  ExpectOneErrorLine(
      RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {probe}, "/etc/passwd"))), 126,
      "/etc/passwd is not executable by you");
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {probe}, "/usr/bin"))),
                     126, "/usr/bin is not a regular file");
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {probe}, "/no/such"))),
                     127, "cannot open /no/such");
}

TEST_F(SetMm, NoexecMount) {
  const std::string mount_point = copies_.dir + "/noexec";
  ASSERT_EQ(::mkdir(mount_point.c_str(), 0755), 0);
  ASSERT_EQ(::mount("tmpfs", mount_point.c_str(), "tmpfs", MS_NOEXEC, "mode=0755"), 0);
  const std::string copy = mount_point + "/probe";
  std::filesystem::copy_file(Probe("set_mm_probe_static"), copy);
  ::chmod(copy.c_str(), 0755);
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {copy}))), 126,
                     copy + " is on a filesystem mounted noexec");
  ExpectOneErrorLine(
      RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {Probe("set_mm_probe_static")}, copy))),
      126, copy + " is on a filesystem mounted noexec");
  ::umount(mount_point.c_str());
}

// A FIFO where a file is expected must not block crpid forever (it would
// wait with the capability in its permitted set): PROGRAM, --exe FILE, a
// #! interpreter and a PT_INTERP naming one are refused at once.
TEST_F(SetMm, FifosAreRefusedWithoutBlocking) {
  const std::string fifo = copies_.dir + "/fifo";  // short: fits PT_INTERP
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0777), 0);
  ::chmod(fifo.c_str(), 0777);
  const std::string script = copies_.dir + "/fifo-script";
  std::ofstream(script) << "#!" << fifo << "\n";
  ::chmod(script.c_str(), 0755);
  const std::string dynamic = Probe("set_mm_probe_dynamic");
  const std::string interp = PatchedProbe("fifo-interp", ProgramInterpreter(fifo),
                                          "set_mm_probe_dynamic");
  const std::vector<std::vector<std::string>> cases = {
      SetMmArgs(copies_.with_ep, {fifo}),
      SetMmArgs(copies_.with_ep, {dynamic}, fifo),
      SetMmArgs(copies_.with_ep, {script}),
      SetMmArgs(copies_.with_ep, {interp}),
  };
  for (const auto& argv : cases) {
    SCOPED_TRACE(argv[argv.size() - 1]);
    // A hang (blocking on the FIFO) fails as exit 137 after the timeout.
    RunResult result = RunProgram(AsNobody(argv), /*timeout_seconds=*/60);
    ExpectOneErrorLine(result, 126, fifo + " is not a regular file");
    EXPECT_THAT(result.err, ::testing::Not(HasSubstr("point of no return")));
  }
}

// Hostile program headers are refused before anything is unmapped: a
// segment whose end wraps around, and one that would cover crpid's loader
// (the trampoline runs with the capability until its very end).
TEST_F(SetMm, HostileProgramHeadersAreRefused) {
  const std::string wraps =
      PatchedProbe("wrapping-load", LastLoadMemsz(~uint64_t{0} - 4096));
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {wraps}))), 126,
                     wraps + ": malformed PT_LOAD segment");
  const std::string covers =
      PatchedProbe("covering-load", LastLoadMemsz(0x7ff000000000));
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {covers}))), 126,
                     covers + " would load over the stack, the vDSO or crpid's own memory");
}

TEST_F(SetMm, SegmentPastTheEndOfTheFileIsRefused) {
  const std::string truncated = copies_.dir + "/truncated";
  std::filesystem::copy_file(Probe("set_mm_probe_static"), truncated);
  std::filesystem::resize_file(truncated, std::filesystem::file_size(truncated) / 2);
  ::chmod(truncated.c_str(), 0755);
  ExpectOneErrorLine(RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {truncated}))), 126,
                     "a PT_LOAD segment reaches past the end of the file");
}

TEST_F(SetMm, ProgramGetsTheCallersWholeEnvironment) {
  std::vector<std::string> argv = {"env", "TMPDIR=/scratch/tmp", "LD_LIBRARY_PATH=/opt/lib"};
  for (const std::string& arg :
       SetMmArgs(copies_.with_ep, {"sh", "-c", "echo $TMPDIR $LD_LIBRARY_PATH"}, "")) {
    if (arg != "env") argv.push_back(arg);
  }
  RunResult result = RunProgram(AsNobody(argv));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "/scratch/tmp /opt/lib\n");
}

// Inputs that used to fail only after the point of no return are refused
// before it: one line that is not the trampoline's, and nothing ran.
void ExpectRefusedBeforeThePointOfNoReturn(const RunResult& result, int code,
                                          const std::string& text) {
  testing::ExpectOneErrorLine(result, "set-mm", text, code);
  EXPECT_THAT(result.err, ::testing::Not(HasSubstr("point of no return")));
}

// An ELF patch: every PT_LOAD (and the entry) moved down by delta.
std::function<void(std::vector<char>&)> MoveLoadsDown(uint64_t delta) {
  return [delta](std::vector<char>& bytes) {
    auto* header = reinterpret_cast<Elf64_Ehdr*>(bytes.data());
    header->e_entry -= delta;
    for (int i = 0; i < header->e_phnum; ++i) {
      auto* phdr = reinterpret_cast<Elf64_Phdr*>(bytes.data() + header->e_phoff +
                                                 i * sizeof(Elf64_Phdr));
      if (phdr->p_type == PT_LOAD || phdr->p_type == PT_PHDR) {
        phdr->p_vaddr -= delta;
        phdr->p_paddr -= delta;
      }
    }
  };
}

// PR_SET_MM_MAP answers EBUSY while crpid's own file is mapped: crpid as
// PROGRAM or as its interpreter is refused; as --exe FILE the kernel would
// accept it (measured: the exe link then names crpid), which set-mm
// refuses too. Also without the file capability (root), so that the
// reason is crpid itself and not its privilege.
TEST_F(SetMm, CrpidItselfIsRefused) {
  const std::string probe = Probe("set_mm_probe_static");
  ExpectRefusedBeforeThePointOfNoReturn(
      RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {copies_.with_ep, "check"}, ""))), 126,
      copies_.with_ep + " is crpid itself");
  ExpectRefusedBeforeThePointOfNoReturn(
      RunProgram(SetMmArgs(copies_.without, {copies_.without, "check"}, "")), 126,
      copies_.without + " is crpid itself");
  ExpectRefusedBeforeThePointOfNoReturn(
      RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {probe}, copies_.with_ep))), 126,
      "--exe " + copies_.with_ep + " is crpid itself");
  ExpectRefusedBeforeThePointOfNoReturn(
      RunProgram(SetMmArgs(copies_.without, {probe}, copies_.without)), 126,
      "--exe " + copies_.without + " is crpid itself");
}

// As the interpreter of a program, the static-pie crpid (no PT_INTERP of
// its own, so a valid interpreter otherwise) is refused too.
TEST_F(SetMm, CrpidAsAnInterpreterIsRefused) {
  CRPID_SKIP_IN_SANITIZER_BUILD(
      "the ASan crpid is dynamic, so set-mm refuses it as an interpreter earlier "
      "(it has a PT_INTERP) and this check is not reached");
  const std::string link = copies_.dir + "/c";  // short: fits PT_INTERP
  ASSERT_EQ(::symlink(copies_.with_ep.c_str(), link.c_str()), 0);
  const std::string interp =
      PatchedProbe("crpid-interp", ProgramInterpreter(link), "set_mm_probe_dynamic");
  ExpectRefusedBeforeThePointOfNoReturn(
      RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {interp}))), 126,
      "the interpreter " + link + " of " + interp + " is crpid itself");
}

// An ET_EXEC at 0x1000: above vm.mmap_min_addr here (4096: mmap maps it),
// below the kernel's effective minimum, which PR_SET_MM_MAP applies.
TEST_F(SetMm, LoadBelowTheKernelsMinimumIsRefused) {
  const std::string low = PatchedProbe("low-load", MoveLoadsDown(0x400000 - 0x1000));
  ExpectRefusedBeforeThePointOfNoReturn(
      RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {low}))), 126,
      low + " loads at 0x1000, below the lowest address the kernel accepts");
}

// A .bss far larger than memory (64 GiB here, 48 TiB anywhere) cannot be
// mapped: refused while crpid can still say so.
TEST_F(SetMm, BssLargerThanMemoryIsRefused) {
  CRPID_SKIP_IN_SANITIZER_BUILD(
      "ASan's shadow memory holds [0x7fff8000, 0x10007fff8000) of crpid's address "
      "space, so the .bss lands on it and set-mm rightly says so (EEXIST) before "
      "memory runs out");
  for (uint64_t memsz : {uint64_t{64} << 30, uint64_t{0x300000000000}}) {
    SCOPED_TRACE(memsz);
    const std::string huge = PatchedProbe("huge-bss", LastLoadMemsz(memsz));
    ExpectRefusedBeforeThePointOfNoReturn(
        RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {huge}))), 126,
        "cannot map " + huge + ": Cannot allocate memory");
  }
}

// A copy of path at copy, root's, with mode and maybe a file capability.
std::string PrivilegedCopy(const std::string& path, const std::string& copy, mode_t mode,
                           const char* capability = nullptr) {
  std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(::chown(copy.c_str(), 0, 0), 0);
  EXPECT_EQ(::chmod(copy.c_str(), mode), 0);
  if (capability != nullptr) {
    cap_t caps = cap_from_text(capability);
    EXPECT_EQ(cap_set_file(copy.c_str(), caps), 0) << copy;
    cap_free(caps);
  }
  return copy;
}

// setuid, setgid and file-capability programs would run without their
// privilege while /proc/PID/exe names them: refused as PROGRAM, as its
// interpreter and as --exe FILE, before anything runs.
TEST_F(SetMm, PrivilegedProgramsAreRefused) {
  const std::string probe = Probe("set_mm_probe_static");
  const std::vector<std::pair<std::string, std::string>> copies = {
      {PrivilegedCopy(probe, copies_.dir + "/suid", 04755), "setuid"},
      {PrivilegedCopy(probe, copies_.dir + "/sgid", 02755), "setgid"},
      {PrivilegedCopy(probe, copies_.dir + "/fcap", 0755, "cap_net_raw+p"), "file-capability"},
  };
  for (const auto& [copy, kind] : copies) {
    SCOPED_TRACE(copy);
    ExpectRefusedBeforeThePointOfNoReturn(
        RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {copy}, ""))), 126,
        copy + " is a " + kind + " program");
    ExpectRefusedBeforeThePointOfNoReturn(
        RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {probe}, copy))), 126,
        "--exe " + copy + " is a " + kind + " program");
  }
  const std::string moved = PrivilegedCopy("/lib64/ld-linux-x86-64.so.2",
                                           copies_.dir + "/l", 04755);  // fits PT_INTERP
  const std::string interp =
      PatchedProbe("suid-interp", ProgramInterpreter(moved), "set_mm_probe_dynamic");
  ExpectRefusedBeforeThePointOfNoReturn(
      RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {interp}))), 126,
      "the interpreter " + moved + " of " + interp + " is a setuid program");
}

// setgid without group execute is no privilege (the kernel ignores it).
TEST_F(SetMm, SetgidWithoutGroupExecuteRuns) {
  const std::string copy = PrivilegedCopy(Probe("set_mm_probe_static"), copies_.dir + "/sgid-nox", 02745);
  RunResult result = RunProgram(AsNobody(SetMmArgs(copies_.with_ep, {copy}, "")));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ParseProbe(result.out)["exe"], copy);
}

// What execve keeps, set-mm keeps: ignored signals (a handled one goes
// back to the default), the blocked mask, descriptors without CLOEXEC,
// umask, cwd, nice, RLIMIT_NOFILE, oom_score_adj. The same report, run
// directly and through set-mm from the same launcher, must read the same.
TEST_F(SetMm, ProcessStateIsKeptAsByExecve) {
  if (!std::filesystem::exists("/usr/bin/python3")) {
    CRPID_SKIP_OR_FAIL("python3 is not installed");
  }
  const std::string launcher =
      "import os, resource, signal, sys\n"
      "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
      "signal.signal(signal.SIGUSR1, lambda *a: None)\n"
      "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])\n"
      "os.umask(0o027); os.nice(5); os.chdir('/tmp')\n"
      "resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))\n"
      "open('/proc/self/oom_score_adj', 'w').write('500')\n"
      "os.set_inheritable(os.open('/dev/null', os.O_RDONLY), True)\n"
      "os.execvp(sys.argv[1], sys.argv[1:])\n";
  // grep reports its own status (dash would clear the blocked mask).
  const std::vector<std::string> status = {
      "/bin/grep", "-E", "^(SigIgn|SigBlk|SigCgt|Umask)", "/proc/self/status"};
  const std::vector<std::string> shell = {
      "/bin/sh", "-c",
      "cat /proc/$$/oom_score_adj; ulimit -n; pwd; nice; ls /proc/$$/fd | tr '\\n' ' '"};
  for (const auto& report : {status, shell}) {
    std::vector<std::string> direct_argv = {"/usr/bin/python3", "-c", launcher};
    direct_argv.insert(direct_argv.end(), report.begin(), report.end());
    std::vector<std::string> set_mm_argv = direct_argv;
    set_mm_argv.insert(set_mm_argv.begin() + 3, {copies_.with_ep, "set-mm", "--"});
    RunResult direct = RunProgram(AsNobody(direct_argv));
    RunResult set_mm = RunProgram(AsNobody(set_mm_argv));
    ASSERT_EQ(direct.exit_code, 0) << direct.err;
    EXPECT_EQ(set_mm.exit_code, 0) << set_mm.err;
    EXPECT_EQ(set_mm.out, direct.out);
  }
  // The launcher's settings reached the report: SIGHUP ignored, SIGUSR2
  // blocked, SIGUSR1 back to the default, umask, oom_score_adj, limit,
  // cwd, nice.
  std::vector<std::string> argv = {"/usr/bin/python3", "-c", launcher, copies_.with_ep,
                                   "set-mm", "--"};
  argv.insert(argv.end(), status.begin(), status.end());
  auto values = ParseProbe(RunProgram(AsNobody(argv)).out);
  EXPECT_NE(std::stoull(values["SigIgn"], nullptr, 16) & (1u << (SIGHUP - 1)), 0u);
  EXPECT_EQ(values["SigBlk"], "0000000000000800");
  EXPECT_EQ(std::stoull(values["SigCgt"], nullptr, 16) & (1u << (SIGUSR1 - 1)), 0u);
  EXPECT_EQ(values["Umask"], "0027");
  argv.resize(6);
  argv.insert(argv.end(), shell.begin(), shell.end());
  EXPECT_THAT(RunProgram(AsNobody(argv)).out, StartsWith("500\n512\n/tmp\n5\n"));
}

}  // namespace
}  // namespace crpid::testing
