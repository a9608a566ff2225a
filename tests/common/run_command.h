// Test support: runs a shell command line and captures its exit status, stdout and stderr, for
// black-box tests of the `m1` executable.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace m1::test {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed, as a shell reports it
  std::string out;
  std::string err;
};

inline std::string read_whole_file(const std::string & path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs `command_line` with /bin/sh; stdin is `input`.
inline CommandResult run_command(const std::string & command_line, const std::string & input = "") {
  char dir_template[] = "/tmp/m1-test-XXXXXX";
  std::string dir = mkdtemp(dir_template);
  std::ofstream(dir + "/in", std::ios::binary) << input;
  std::string full = "(" + command_line + ") <" + dir + "/in >" + dir + "/out 2>" + dir + "/err";
  int status = std::system(full.c_str());
  CommandResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  result.out = read_whole_file(dir + "/out");
  result.err = read_whole_file(dir + "/err");
  std::remove((dir + "/in").c_str());
  std::remove((dir + "/out").c_str());
  std::remove((dir + "/err").c_str());
  rmdir(dir.c_str());
  return result;
}

}  // namespace m1::test
