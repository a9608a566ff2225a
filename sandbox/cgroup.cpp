// Finding, creating and reading the sandbox's cgroups (see cgroup.h).
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace m1::sandbox {

namespace {

// Where each usable controller's parent directory is, found once per process.
struct CgroupLayout {
  bool v2 = false;
  std::string memory_parent, pids_parent, cpu_parent;  // empty: unusable
};

std::string read_text(const std::string & path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool write_text(const std::string & path, const std::string & text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return bool(out);
}

// The "key value" line of a flat-keyed cgroup file (memory.events, pids.events, cpu.stat...).
uint64_t keyed_value(const std::string & path, const std::string & key) {
  std::istringstream in(read_text(path));
  std::string name;
  uint64_t value = 0;
  while (in >> name >> value)
    if (name == key) return value;
  return 0;
}

bool writable_dir(const std::string & path) { return !path.empty() && access(path.c_str(), W_OK) == 0; }

// Mount points of cgroup filesystems, by controller ("memory", "pids", "cpuacct"; "" for v2).
void find_mounts(std::string & v2_mount, std::string & memory, std::string & pids, std::string & cpuacct) {
  std::istringstream in(read_text("/proc/self/mountinfo"));
  for (std::string line; std::getline(in, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream left(line.substr(0, dash)), right(line.substr(dash + 3));
    std::string id, parent, devices, root, mount_point, fs_type, source, options;
    left >> id >> parent >> devices >> root >> mount_point;
    right >> fs_type >> source >> options;
    if (fs_type == "cgroup2" && v2_mount.empty()) v2_mount = mount_point;
    if (fs_type != "cgroup") continue;
    std::string padded = "," + options + ",";
    if (padded.find(",memory,") != std::string::npos) memory = mount_point;
    if (padded.find(",pids,") != std::string::npos) pids = mount_point;
    if (padded.find(",cpuacct,") != std::string::npos) cpuacct = mount_point;
  }
}

// This process's cgroup path in the hierarchy holding `controller` ("" = the v2 line "0::").
std::string own_cgroup(const std::string & controller) {
  std::istringstream in(read_text("/proc/self/cgroup"));
  for (std::string line; std::getline(in, line);) {
    size_t first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string names = "," + line.substr(first + 1, second - first - 1) + ",";
    bool match = controller.empty() ? line.compare(0, 3, "0::") == 0
                                    : names.find("," + controller + ",") != std::string::npos;
    if (match) return line.substr(second + 1);
  }
  return "";
}

std::string parent_of(const std::string & path) {
  size_t slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

CgroupLayout probe_v2(const std::string & mount) {
  CgroupLayout layout;
  std::string own = own_cgroup("");
  if (own.empty()) return layout;
  std::string self_dir = mount + (own == "/" ? "" : own);
  // A sandbox group can hang under our own group only when it is the root (no internal
  // processes rule), or under our parent when that delegates to us.
  for (const std::string & dir : {self_dir, mount + (parent_of(own) == "/" ? "" : parent_of(own))}) {
    std::string enabled = " " + read_text(dir + "/cgroup.subtree_control");
    for (char & c : enabled)
      if (c == '\n') c = ' ';
    bool has_memory = enabled.find(" memory ") != std::string::npos;
    bool has_pids = enabled.find(" pids ") != std::string::npos;
    if (!writable_dir(dir) || (!has_memory && !has_pids)) continue;
    if (dir != self_dir || own == "/") {
      layout.v2 = true;
      if (has_memory) layout.memory_parent = dir;
      if (has_pids) layout.pids_parent = dir;
      layout.cpu_parent = dir;  // cpu.stat exists in every v2 group, whatever is enabled
      return layout;
    }
  }
  return layout;
}

// Groups left by an m1 process that died without cleaning up (killed by SIGKILL): empty once
// their sandboxes died with it, so rmdir succeeds; a group still in use is left alone.
void remove_stale_groups(const std::string & parent) {
  if (parent.empty()) return;
  DIR * dir = opendir(parent.c_str());
  if (dir == nullptr) return;
  while (struct dirent * entry = readdir(dir)) {
    int owner = 0;
    if (std::sscanf(entry->d_name, "m1-sandbox-%d-", &owner) != 1 || owner <= 0) continue;
    if (kill(owner, 0) == 0 || errno != ESRCH) continue;  // the owner still runs
    rmdir((parent + "/" + entry->d_name).c_str());
  }
  closedir(dir);
}

const CgroupLayout & layout() {
  static std::once_flag once;
  static CgroupLayout found;
  std::call_once(once, [] {
    std::string v2_mount, memory, pids, cpuacct;
    find_mounts(v2_mount, memory, pids, cpuacct);
    if (memory.empty() && pids.empty() && !v2_mount.empty()) {
      found = probe_v2(v2_mount);
      return;
    }
    auto parent = [](const std::string & mount, const std::string & controller) {
      if (mount.empty()) return std::string();
      std::string own = own_cgroup(controller);
      std::string dir = mount + (own == "/" ? "" : own);
      return writable_dir(dir) ? dir : std::string();
    };
    found.memory_parent = parent(memory, "memory");
    found.pids_parent = parent(pids, "pids");
    found.cpu_parent = parent(cpuacct, "cpuacct");
  });
  static std::once_flag cleaned;
  std::call_once(cleaned, [] {
    for (const std::string * dir : {&found.memory_parent, &found.pids_parent, &found.cpu_parent})
      remove_stale_groups(*dir);
  });
  return found;
}

std::string unique_name() {
  static std::atomic<uint64_t> counter{0};
  return "m1-sandbox-" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

}  // namespace

SandboxCgroup::SandboxCgroup(SandboxCgroup && other) noexcept { *this = std::move(other); }

SandboxCgroup & SandboxCgroup::operator=(SandboxCgroup && other) noexcept {
  if (this != &other) {
    remove();
    v2_ = other.v2_;
    memory_dir_ = std::move(other.memory_dir_);
    pids_dir_ = std::move(other.pids_dir_);
    cpu_dir_ = std::move(other.cpu_dir_);
    created_ = std::move(other.created_);
    other.memory_dir_.clear();
    other.pids_dir_.clear();
    other.cpu_dir_.clear();
    other.created_.clear();
  }
  return *this;
}

SandboxCgroup::~SandboxCgroup() { remove(); }

void SandboxCgroup::remove() {
  for (const std::string & dir : created_) {
    // The kernel may still be tearing down the last task for a moment after its reaping.
    for (int attempt = 0; attempt < 50 && rmdir(dir.c_str()) != 0 && errno == EBUSY; ++attempt)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  created_.clear();
}

SandboxCgroup SandboxCgroup::create(const Limits & limits) {
  const CgroupLayout & found = layout();
  SandboxCgroup group;
  group.v2_ = found.v2;
  std::string name = unique_name();
  auto make = [&](const std::string & parent) -> std::string {
    if (parent.empty()) return "";
    std::string dir = parent + "/" + name;
    for (const std::string & existing : group.created_)
      if (existing == dir) return dir;  // v2: one directory holds every controller
    if (mkdir(dir.c_str(), 0755) != 0) return "";
    group.created_.push_back(dir);
    return dir;
  };
  if (limits.memory_bytes > 0) {
    group.memory_dir_ = make(found.memory_parent);
    std::string bytes = std::to_string(limits.memory_bytes);
    if (!group.memory_dir_.empty()) {
      bool ok = found.v2 ? write_text(group.memory_dir_ + "/memory.max", bytes)
                         : write_text(group.memory_dir_ + "/memory.limit_in_bytes", bytes);
      // Swap must not extend the limit; the file is absent where swap accounting is off.
      if (found.v2) write_text(group.memory_dir_ + "/memory.swap.max", "0");
      else write_text(group.memory_dir_ + "/memory.memsw.limit_in_bytes", bytes);
      if (!ok) group.memory_dir_.clear();
    }
  }
  if (limits.max_processes > 0) {
    group.pids_dir_ = make(found.pids_parent);
    // +1: the sandbox's init process counts too.
    if (!group.pids_dir_.empty() && !write_text(group.pids_dir_ + "/pids.max", std::to_string(limits.max_processes + 1)))
      group.pids_dir_.clear();
  }
  if (limits.cpu_seconds > 0) group.cpu_dir_ = make(found.cpu_parent);
  return group;
}

Status SandboxCgroup::attach(pid_t pid) const {
  std::string text = std::to_string(pid);
  for (const std::string & dir : created_)
    if (!write_text(dir + "/cgroup.procs", text))
      return Status::error("cgroup: cannot move the sandbox into " + dir + ": " + std::strerror(errno));
  return Status();
}

CgroupUsage SandboxCgroup::usage() const {
  CgroupUsage usage;
  if (!memory_dir_.empty()) {
    if (v2_) {
      usage.peak_memory_bytes = size_t(std::strtoull(read_text(memory_dir_ + "/memory.peak").c_str(), nullptr, 10));
      usage.oom_kills = keyed_value(memory_dir_ + "/memory.events", "oom_kill");
    } else {
      usage.peak_memory_bytes =
          size_t(std::strtoull(read_text(memory_dir_ + "/memory.max_usage_in_bytes").c_str(), nullptr, 10));
      usage.oom_kills = keyed_value(memory_dir_ + "/memory.oom_control", "oom_kill");
    }
  }
  if (!pids_dir_.empty()) usage.pids_limit_hits = keyed_value(pids_dir_ + "/pids.events", "max");
  if (!cpu_dir_.empty()) {
    if (v2_) usage.cpu_seconds = double(keyed_value(cpu_dir_ + "/cpu.stat", "usage_usec")) * 1e-6;
    else usage.cpu_seconds = double(std::strtoull(read_text(cpu_dir_ + "/cpuacct.usage").c_str(), nullptr, 10)) * 1e-9;
  }
  return usage;
}

std::string SandboxCgroup::description() const {
  std::string used;
  for (auto [dir, name] : {std::pair{&memory_dir_, "memory"}, {&pids_dir_, "pids"}, {&cpu_dir_, "cpu"}})
    if (!dir->empty()) used += (used.empty() ? "" : ",") + std::string(name);
  if (used.empty()) return "no cgroup";
  return std::string(v2_ ? "cgroup v2 " : "cgroup v1 ") + used;
}

}  // namespace m1::sandbox
