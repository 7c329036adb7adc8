// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// CheckExecutable on real files, each case compared with what execve itself
// returns for the same file (in a child that execs it).
#include "src/exec_check.h"

#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/test_support.h"

namespace crpid {
namespace {

// With this machine's page size, as fork-tree calls it.
int CheckExecutable(const char* path) {
  return crpid::CheckExecutable(path, getauxval(AT_PAGESZ));
}

// An ELF machine other than this one's.
#if defined(__x86_64__)
constexpr uint16_t kWrongMachine = EM_AARCH64;
#else
constexpr uint16_t kWrongMachine = EM_X86_64;
#endif

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream data;
  data << in.rdbuf();
  return data.str();
}

void WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  ::unlink(path.c_str());
  std::ofstream(path, std::ios::binary) << data;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// What execve(path) does in a child: 0 when it started the program, its
// errno otherwise (a close-on-exec pipe tells the two apart).
int ExecveErrno(const std::string& path) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    char* const argv[] = {const_cast<char*>(path.c_str()), nullptr};
    char* const envp[] = {nullptr};
    ::execve(path.c_str(), argv, envp);
    const int err = errno;
    (void)!::write(fds[1], &err, sizeof(err));
    _exit(127);
  }
  ::close(fds[1]);
  int err = 0;
  ssize_t n;
  do {
    n = ::read(fds[0], &err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  ::close(fds[0]);
  while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  return n == static_cast<ssize_t>(sizeof(err)) ? err : 0;
}

// The first PT_INTERP of the 64-bit ELF image: its file offset and size.
bool FindInterpreter(const std::string& image, size_t* offset, size_t* size) {
  Elf64_Ehdr header;
  std::memcpy(&header, image.data(), sizeof(header));
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr program_header;
    std::memcpy(&program_header, image.data() + header.e_phoff + i * sizeof(program_header),
                sizeof(program_header));
    if (program_header.p_type == PT_INTERP) {
      *offset = program_header.p_offset;
      *size = program_header.p_filesz;
      return true;
    }
  }
  return false;
}

class ExecCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp != nullptr ? tmp : "/tmp") + "/exec-check-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    true_image_ = ReadAll(TrueProgram());
    ASSERT_GT(true_image_.size(), sizeof(Elf64_Ehdr));
  }
  void TearDown() override {
    const std::string command = "rm -rf '" + dir_ + "'";
    EXPECT_EQ(std::system(command.c_str()), 0);
  }
  // A dynamically linked program that exits 0 at once.
  static std::string TrueProgram() {
    return ::access("/usr/bin/true", X_OK) == 0 ? "/usr/bin/true" : "/bin/true";
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string Script(const std::string& name, const std::string& interpreter,
                     mode_t mode = 0755) {
    const std::string path = Path(name);
    WriteFile(path, "#!" + interpreter + "\nexit 0\n", mode);
    return path;
  }
  std::string Elf(const std::string& name, const std::string& image) {
    const std::string path = Path(name);
    WriteFile(path, image, 0755);
    return path;
  }
  // The same error from the check as from execve, which the test runs.
  void ExpectRefused(const std::string& path, int err) {
    EXPECT_EQ(ExecveErrno(path), err) << path << ": execve itself";
    EXPECT_EQ(CheckExecutable(path.c_str()), err)
        << path << ": " << std::strerror(CheckExecutable(path.c_str()));
  }
  void ExpectRuns(const std::string& path) {
    EXPECT_EQ(ExecveErrno(path), 0) << path << ": execve itself";
    EXPECT_EQ(CheckExecutable(path.c_str()), 0)
        << path << ": " << std::strerror(CheckExecutable(path.c_str()));
  }

  std::string dir_;
  std::string true_image_;
};

TEST_F(ExecCheckTest, ProgramsAndScriptsThatRun) {
  ExpectRuns(TrueProgram());
  ExpectRuns(Script("sh-script", "/bin/sh"));
  ExpectRuns(Script("spaces", "  /bin/sh  -e  "));
  ExpectRuns(Elf("copy-of-true", true_image_));
  ASSERT_EQ(::symlink(Path("copy-of-true").c_str(), Path("link").c_str()), 0);
  ExpectRuns(Path("link"));
}

TEST_F(ExecCheckTest, DirectoryIsNotExecutable) {
  ASSERT_EQ(::mkdir(Path("directory").c_str(), 0755), 0);
  ExpectRefused(Path("directory"), EACCES);
  ExpectRefused(Script("interpreter-is-a-directory", Path("directory")), EACCES);
}

TEST_F(ExecCheckTest, MissingFileAndMissingInterpreter) {
  ExpectRefused(Path("missing"), ENOENT);
  ExpectRefused(Script("missing-interpreter", Path("no-such-interpreter")), ENOENT);
  ASSERT_EQ(::symlink(Path("nowhere").c_str(), Path("dangling").c_str()), 0);
  ExpectRefused(Path("dangling"), ENOENT);
  ExpectRefused(Script("interpreter-dangling", Path("dangling")), ENOENT);
}

TEST_F(ExecCheckTest, NotExecutableFileOrInterpreter) {
  ExpectRefused(Script("mode-0644", "/bin/sh", 0644), EACCES);
  const std::string interpreter = Script("interpreter-0644", "/bin/sh", 0644);
  ExpectRefused(Script("uses-0644-interpreter", interpreter), EACCES);
}

// Five "#!" rewrites run, the sixth is ELOOP (fs/exec.c exec_binprm).
TEST_F(ExecCheckTest, InterpreterChains) {
  std::string interpreter = TrueProgram();
  for (int level = 1; level <= kMaxScriptLevels + 1; ++level) {
    interpreter = Script("chain-" + std::to_string(level), interpreter);
  }
  ExpectRuns(Path("chain-" + std::to_string(kMaxScriptLevels)));
  ExpectRefused(Path("chain-" + std::to_string(kMaxScriptLevels + 1)), ELOOP);
  // A missing interpreter at the end of a chain is ENOENT, not ELOOP.
  interpreter = Path("absent");
  for (int level = 1; level <= kMaxScriptLevels; ++level) {
    interpreter = Script("broken-chain-" + std::to_string(level), interpreter);
  }
  ExpectRefused(interpreter, ENOENT);
}

TEST_F(ExecCheckTest, WrongMachineElf) {
  std::string image = true_image_;
  const uint16_t other = kWrongMachine;
  std::memcpy(image.data() + offsetof(Elf64_Ehdr, e_machine), &other, sizeof(other));
  ExpectRefused(Elf("other-machine", image), ENOEXEC);
  // As the interpreter of a script: ENOEXEC too.
  ExpectRefused(Script("interpreter-other-machine", Path("other-machine")), ENOEXEC);
}

TEST_F(ExecCheckTest, ElfNotAnExecutableOrTruncated) {
  std::string image = true_image_;
  const uint16_t relocatable = ET_REL;
  std::memcpy(image.data() + offsetof(Elf64_Ehdr, e_type), &relocatable, sizeof(relocatable));
  ExpectRefused(Elf("relocatable", image), ENOEXEC);
  ExpectRefused(Elf("truncated", true_image_.substr(0, 100)), ENOEXEC);
}

TEST_F(ExecCheckTest, ElfInterpreterMissingOrUnusable) {
  size_t offset = 0;
  size_t size = 0;
  ASSERT_TRUE(FindInterpreter(true_image_, &offset, &size)) << TrueProgram() << " is static";
  ASSERT_GT(size, 8u);
  // The same length, so that nothing else in the file moves.
  auto with_interpreter = [&](const std::string& interpreter) {
    std::string image = true_image_;
    EXPECT_LT(interpreter.size(), size);
    std::string field = interpreter;
    field.resize(size, '\0');
    image.replace(offset, size, field);
    return image;
  };
  std::string other = true_image_;
  const uint16_t machine = kWrongMachine;
  std::memcpy(other.data() + offsetof(Elf64_Ehdr, e_machine), &machine, sizeof(machine));
  Elf("other-machine", other);
  ExpectRefused(Elf("interp-missing", with_interpreter("/nonexistent/ld")), ENOENT);
  // Relative names, resolved from the cwd as execve resolves them (and
  // short enough for the field).
  const int cwd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(cwd, 0);
  ASSERT_EQ(::chdir(dir_.c_str()), 0);
  ASSERT_EQ(::mkdir("interp-dir", 0755), 0);
  ExpectRefused(Elf("interp-directory", with_interpreter("./interp-dir")), EACCES);
  WriteFile("interp-short", "not an ELF file\n", 0755);
  ExpectRefused(Elf("interp-short-text", with_interpreter("./interp-short")), EIO);
  WriteFile("interp-text", std::string(100, 'x'), 0755);
  ExpectRefused(Elf("interp-not-elf", with_interpreter("./interp-text")), ELIBBAD);
  WriteFile("interp-0644", true_image_, 0644);
  ExpectRefused(Elf("interp-not-executable", with_interpreter("./interp-0644")), EACCES);
  ExpectRefused(Elf("interp-other-machine", with_interpreter("./other-machine")), ELIBBAD);
  // An interpreter of the wrong ELF type: execve succeeds, then the kernel
  // kills the program (SIGSEGV); the check refuses it.
  std::string relocatable = true_image_;
  const uint16_t type = ET_REL;
  std::memcpy(relocatable.data() + offsetof(Elf64_Ehdr, e_type), &type, sizeof(type));
  Elf("relocatable", relocatable);
  EXPECT_EQ(CheckExecutable(Elf("interp-relocatable", with_interpreter("./relocatable")).c_str()),
            ELIBBAD);
  EXPECT_EQ(::fchdir(cwd), 0);
  ::close(cwd);
  std::string no_nul = with_interpreter("/lib/ld");
  no_nul[offset + size - 1] = 'x';
  ExpectRefused(Elf("interp-no-nul", no_nul), ENOEXEC);
}

// Neither "#!" nor ELF magic: execve says ENOEXEC and fork-tree runs the
// file with /bin/sh, as execvp does; the check answers for /bin/sh.
TEST_F(ExecCheckTest, FilesOfNoFormatRunThroughTheShell) {
  WriteFile(Path("plain"), "exit 0\n", 0755);
  EXPECT_EQ(ExecveErrno(Path("plain")), ENOEXEC);
  EXPECT_EQ(CheckExecutable(Path("plain").c_str()), 0);
  WriteFile(Path("empty"), "", 0755);
  EXPECT_EQ(ExecveErrno(Path("empty")), ENOEXEC);
  EXPECT_EQ(CheckExecutable(Path("empty").c_str()), 0);
  WriteFile(Path("no-interpreter"), "#!   \nexit 0\n", 0755);
  EXPECT_EQ(ExecveErrno(Path("no-interpreter")), ENOEXEC);
  EXPECT_EQ(CheckExecutable(Path("no-interpreter").c_str()), 0);
  // A "#!" interpreter name cut off by the 256-byte limit.
  WriteFile(Path("long-name"), "#!/" + std::string(300, 'a') + "\n", 0755);
  EXPECT_EQ(ExecveErrno(Path("long-name")), ENOEXEC);
  EXPECT_EQ(CheckExecutable(Path("long-name").c_str()), 0);
}

// A file on a noexec mount: EACCES. A tmpfs mounted noexec in a mount
// namespace of a child (a user namespace too where the test is not root).
TEST_F(ExecCheckTest, NoexecMount) {
  const std::string mount_point = Path("noexec");
  ASSERT_EQ(::mkdir(mount_point.c_str(), 0755), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    if (::unshare(CLONE_NEWNS) != 0 && ::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) _exit(2);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(2);
    if (::mount("tmpfs", mount_point.c_str(), "tmpfs", MS_NOEXEC, "size=16m") != 0) _exit(2);
    const std::string program = mount_point + "/true";
    std::ofstream(program, std::ios::binary) << true_image_;
    ::chmod(program.c_str(), 0755);
    const int check = CheckExecutable(program.c_str());
    const int kernel = ExecveErrno(program);
    _exit(check == EACCES && kernel == EACCES ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) {
    CRPID_SKIP_OR_FAIL("cannot mount a tmpfs here (no mount or user namespace)");
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "check or execve did not give EACCES on noexec";
}

}  // namespace
}  // namespace crpid
