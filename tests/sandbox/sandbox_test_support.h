// Test support for the sandbox's black-box tests: a throwaway workspace, a request builder, the
// paths of the probe programs built with the project, and running `m1` as another user.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace m1::test {

// A directory under `base`, removed with its contents at scope end. The sandbox has a private
// /tmp, so a directory the sandbox must see from outside its workspace lives under /var/tmp.
class TempDir {
public:
  explicit TempDir(const char * prefix = "m1-sandbox-test", const char * base = "/tmp") {
    std::string pattern = std::string(base) + "/" + prefix + "-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    path_ = mkdtemp(buffer.data());
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string & path() const { return path_; }
  std::string operator/(const std::string & name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

inline std::string read_file(const std::string & path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_file(const std::string & path, const std::string & text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline bool exists(const std::string & path) {
  struct stat info;
  return lstat(path.c_str(), &info) == 0;
}

// A request with a small environment and short limits, the workspace being `workspace`.
inline sandbox::Request shell_request(const std::string & workspace, const std::string & script) {
  sandbox::Request request;
  request.argv = {"/bin/sh", "-c", script};
  request.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C"};
  request.policy.workspace = workspace;
  request.limits.wall_seconds = 20;
  return request;
}

inline sandbox::Request probe_request(const std::string & workspace, std::vector<std::string> argv) {
  sandbox::Request request = shell_request(workspace, "");
  request.argv = std::move(argv);
  return request;
}

// Host pids whose command line is exactly `argv` (to find sandboxed processes from outside).
inline std::vector<int> host_pids_with_cmdline(const std::vector<std::string> & argv) {
  std::string wanted;
  for (const std::string & arg : argv) wanted += arg + '\0';
  std::vector<int> found;
  DIR * proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (struct dirent * entry = readdir(proc)) {
    int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    if (read_file("/proc/" + std::to_string(pid) + "/cmdline") == wanted) found.push_back(pid);
  }
  closedir(proc);
  return found;
}

// Build outputs may sit where a sandboxed command cannot see them: under /tmp (private inside the
// sandbox) or under /root (hidden when the sandbox runs as root), or where nobody cannot reach them
// (the unprivileged tests). Programs that run inside a sandbox are therefore staged, once per test
// process, in a world-readable folder under /var/tmp, removed again at exit.
class StagedPrograms {
public:
  static StagedPrograms & instance() {
    static StagedPrograms staged;
    return staged;
  }
  // The staged copy of `built` (a hard link where the filesystem allows, else a copy), mode 0755.
  std::string path_of(const std::string & built) {
    std::string target = dir_ + "/" + built.substr(built.rfind('/') + 1);
    if (access(target.c_str(), X_OK) != 0) {
      if (link(built.c_str(), target.c_str()) != 0)
        std::system(("cp '" + built + "' '" + target + "'").c_str());
      chmod(target.c_str(), 0755);
    }
    return target;
  }
  ~StagedPrograms() { std::system(("rm -rf '" + dir_ + "'").c_str()); }

private:
  StagedPrograms() : dir_("/var/tmp/m1-sandbox-test-" + std::to_string(getpid())) {
    mkdir(dir_.c_str(), 0755);
    chmod(dir_.c_str(), 0755);  // the umask must not keep nobody out
  }
  std::string dir_;
};

inline const char * syscall_probe() {
  static const std::string path = StagedPrograms::instance().path_of(M1_SYSCALL_PROBE);
  return path.c_str();
}
inline const char * fd_probe() {
  static const std::string path = StagedPrograms::instance().path_of(M1_FD_PROBE);
  return path.c_str();
}
inline const char * euid_probe() {
  static const std::string path = StagedPrograms::instance().path_of(M1_EUID_PROBE);
  return path.c_str();
}
// The host runs this one; only the unprivileged tests need it staged (nobody must reach it).
inline const char * m1_binary() { return M1_BINARY; }
inline const char * m1_binary_for_nobody() {
  static const std::string path = StagedPrograms::instance().path_of(M1_BINARY);
  return path.c_str();
}

// A Python script that forks sleeping children until fork fails (or 200 of them), then prints
// how many it made and exits (the sandbox's end kills the sleepers).
constexpr const char * kForkCounter =
    "import os, time\n"
    "n = 0\n"
    "try:\n"
    "    while n < 200:\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(30)\n"
    "            os._exit(0)\n"
    "        n += 1\n"
    "except OSError:\n"
    "    pass\n"
    "print(n, flush=True)\n"
    "os._exit(0)\n";

// The uid of "nobody", to run the sandbox unprivileged when the tests run as root.
constexpr unsigned kNobody = 65534;

}  // namespace m1::test
