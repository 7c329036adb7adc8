// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for the "#!" line set-mm follows: it must read what execve's
// binfmt_script reads (Linux 5.1+), byte for byte. Runs in Bazel's sandbox
// on files of its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "src/elf_image.h"

namespace crpid {
namespace {

using ::testing::HasSubstr;

// A file holding exactly content, in the test's temporary directory.
std::string FileWith(const std::string& content) {
  static int counter = 0;
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      std::string(dir != nullptr ? dir : "/tmp") + "/script-" + std::to_string(counter++);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(ReadScriptLine, InterpreterAndOneArgument) {
  auto line = ReadScriptLine(FileWith("#! /usr/bin/env  python3 -u \t\nprint(1)\n"));
  ASSERT_TRUE(line.ok()) << line.error().message;
  EXPECT_EQ(line->interpreter, "/usr/bin/env");
  EXPECT_EQ(line->argument, "python3 -u");
}

TEST(ReadScriptLine, NotAScript) {
  for (const std::string& content : {std::string(""), std::string("#"),
                                     std::string("\x7f" "ELF"), std::string("# !/bin/sh\n")}) {
    auto line = ReadScriptLine(FileWith(content));
    ASSERT_TRUE(line.ok()) << line.error().message;
    EXPECT_EQ(line->interpreter, "") << content;
  }
}

// execve runs a #! line longer than its 256-byte buffer when the
// interpreter's name ends inside it, the argument cut at byte 255; set-mm
// refused it (found by tests/fuzz, script_line).
TEST(ReadScriptLine, LongLineRunsWithTheArgumentCut) {
  auto line = ReadScriptLine(FileWith("#!/bin/sh " + std::string(300, 'x') + "\n"));
  ASSERT_TRUE(line.ok()) << line.error().message;
  EXPECT_EQ(line->interpreter, "/bin/sh");
  EXPECT_EQ(line->argument, std::string(255 - 10, 'x'));
}

TEST(ReadScriptLine, NameNotEndingWithin256BytesIsRefused) {
  auto line = ReadScriptLine(FileWith("#!/" + std::string(300, 'x') + "\n"));
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(line.error().message, HasSubstr("does not end within 256 bytes"));
}

// The kernel reads the name and the argument as C strings: a NUL ends them
// (found by tests/fuzz, script_line: crpid kept the bytes after it).
TEST(ReadScriptLine, NulEndsTheNameAndTheArgument) {
  using namespace std::string_literals;
  struct Case {
    std::string content, interpreter, argument;
  };
  for (const Case& c : {Case{"#!/bin/sh\0 -x\n"s, "/bin/sh", ""},
                        Case{"#!/bin/s\0h -x\n"s, "/bin/s", ""},
                        Case{"#!/bin/sh -x\0 -e\n"s, "/bin/sh", "-x"},
                        Case{"#!/bin/sh a \0\n"s, "/bin/sh", "a "}}) {
    auto line = ReadScriptLine(FileWith(c.content));
    ASSERT_TRUE(line.ok()) << line.error().message;
    EXPECT_EQ(line->interpreter, c.interpreter);
    EXPECT_EQ(line->argument, c.argument);
  }
}

// execve fails on these: no interpreter (ENOEXEC), or an empty name (ENOENT).
TEST(ReadScriptLine, NoInterpreterIsRefused) {
  using namespace std::string_literals;
  for (const std::string& content :
       {"#!\n"s, "#!"s, "#! \t \n"s, "#!" + std::string(300, ' '), "#! \0/bin/sh\n"s}) {
    auto line = ReadScriptLine(FileWith(content));
    ASSERT_FALSE(line.ok()) << content;
    EXPECT_THAT(line.error().message, HasSubstr("#! names no interpreter"));
  }
}

}  // namespace
}  // namespace crpid
