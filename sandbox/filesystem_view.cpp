// Building the sandbox's filesystem view (see filesystem_view.h). The parent plans (it may
// allocate, resolve paths and report errors as Status); the child applies the plan with syscalls
// only. The sequence is bubblewrap's: a staging tmpfs on /tmp becomes the root, the host root is
// moved to /oldroot and bound recursively at /newroot, which is then made read-only and filled
// in; a final pivot_root(".", ".") discards the staging root and /oldroot.
#include "sandbox/filesystem_view.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace m1::sandbox {

namespace {

// mount_setattr(2) (Linux 5.12), through syscall(2): <linux/mount.h> clashes with <sys/mount.h>.
struct MountAttributes {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};
constexpr uint64_t kAttrReadOnly = 0x1, kAttrNoSuid = 0x2, kAttrNoDev = 0x4;
constexpr unsigned kAtRecursive = 0x8000;
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

int set_mount_attributes(const char * path, bool recursive, uint64_t set) {
  MountAttributes attributes = {set, 0, 0, 0};
  return int(syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? kAtRecursive : 0, &attributes,
                     sizeof attributes));
}

std::string home_directory() {
  const char * home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return home;
  struct passwd * entry = getpwuid(geteuid());
  return entry != nullptr && entry->pw_dir != nullptr ? entry->pw_dir : "";
}

std::string resolved(const std::string & path) {
  char buffer[PATH_MAX];
  return realpath(path.c_str(), buffer) != nullptr ? std::string(buffer) : std::string();
}

bool is_inside(const std::string & path, const std::string & root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          (root == "/" || path[root.size()] == '/'));
}

size_t depth(const std::string & path) { return size_t(std::count(path.begin(), path.end(), '/')); }

Expected<std::string> existing_directory(const std::string & path, const char * what) {
  if (path.empty() || path[0] != '/')
    return Status::error(std::string(what) + " '" + path + "': must be an absolute path");
  std::string real = resolved(path);
  struct stat info;
  if (real.empty() || stat(real.c_str(), &info) != 0)
    return Status::error(std::string(what) + " '" + path + "': " + std::strerror(errno));
  if (!S_ISDIR(info.st_mode)) return Status::error(std::string(what) + " '" + path + "': not a directory");
  return real;
}

void add_protected(const std::string & workspace, const std::string & relative, std::vector<MountStep> & steps) {
  std::string path = workspace + "/" + relative;
  struct stat info;
  if (relative == ".git/hooks" && lstat(path.c_str(), &info) != 0) {
    // Git creates hooks/ itself; reserving it here keeps the sandbox from planting one.
    struct stat git;
    if (lstat((workspace + "/.git").c_str(), &git) == 0 && S_ISDIR(git.st_mode)) mkdir(path.c_str(), 0755);
  }
  std::string real = resolved(path);
  // Missing: nothing to keep. Resolving outside the workspace: already read-only there.
  if (real.empty() || !is_inside(real, workspace) || real == workspace) return;
  steps.push_back({MountStep::Kind::protect, "/newroot" + real, "/newroot" + real});
}

}  // namespace

const std::vector<std::string> & default_protected_paths() {
  static const std::vector<std::string> paths = {
      ".git/hooks", ".git/config", ".m1",     ".bashrc", ".bash_profile", ".bash_login", ".bash_logout",
      ".profile",   ".zshrc",      ".zshenv", ".zprofile", ".zlogin", ".envrc"};
  return paths;
}

std::vector<std::string> default_denied_paths(const std::string & workspace) {
  std::vector<std::string> paths = {
      "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
      "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key",
      "/etc/ssh/ssh_host_dsa_key",
      // control sockets of daemons running as root (a read-only mount does not stop connect(2))
      "/run/docker.sock", "/var/run/docker.sock", "/run/containerd", "/run/podman", "/run/dbus",
      "/run/systemd/private", "/run/snapd.socket", "/run/user"};
  if (workspace != "/root") paths.push_back("/root");
  std::string home = home_directory();
  if (!home.empty() && home != "/") {
    for (const char * entry : {".ssh", ".aws", ".azure", ".config/gcloud", ".config/gh", ".gnupg", ".kube",
                               ".docker", ".netrc", ".git-credentials", ".pgpass", ".npmrc", ".pypirc"})
      paths.push_back(home + "/" + entry);
  }
  return paths;
}

Expected<MountPlan> plan_filesystem_view(const Policy & policy, const Limits & limits) {
  MountPlan plan;
  std::vector<MountStep> steps;
  std::string workspace;
  std::vector<std::string> writable_roots;
  if (!policy.workspace.empty()) {
    Expected<std::string> real = existing_directory(policy.workspace, "workspace");
    if (!real.ok()) return real.status();
    workspace = *real;
    writable_roots.push_back(workspace);
  }
  for (const std::string & extra : policy.extra_writable) {
    Expected<std::string> real = existing_directory(extra, "writable path");
    if (!real.ok()) return real.status();
    writable_roots.push_back(*real);
  }
  for (const std::string & root : writable_roots) {
    if (root == "/") return Status::error("writable path '/': the host root cannot be writable");
    steps.push_back({MountStep::Kind::bind_writable, "/oldroot" + root, "/newroot" + root});
  }
  std::vector<std::string> denied = default_denied_paths(workspace);
  denied.insert(denied.end(), policy.extra_denied.begin(), policy.extra_denied.end());
  for (const std::string & path : denied) {
    std::string real = resolved(path);
    struct stat info;
    if (real.empty() || stat(real.c_str(), &info) != 0) continue;
    if (real == "/" || std::find(writable_roots.begin(), writable_roots.end(), real) != writable_roots.end()) continue;
    MountStep::Kind kind = S_ISDIR(info.st_mode) ? MountStep::Kind::mask_dir : MountStep::Kind::mask_file;
    steps.push_back({kind, "/oldroot/dev/null", "/newroot" + real});
  }
  if (!workspace.empty()) {
    for (const std::string & relative : default_protected_paths()) add_protected(workspace, relative, steps);
    for (const std::string & relative : policy.extra_protected) add_protected(workspace, relative, steps);
  }
  // Parents first; at equal depth a writable bind comes before the masks and protections on it.
  std::stable_sort(steps.begin(), steps.end(), [](const MountStep & a, const MountStep & b) {
    if (depth(a.target) != depth(b.target)) return depth(a.target) < depth(b.target);
    return int(a.kind) < int(b.kind);
  });
  plan.steps = std::move(steps);
  plan.tmp_options = "mode=1777,size=" + std::to_string(limits.tmp_bytes > 0 ? limits.tmp_bytes : size_t(1) << 30);
  return plan;
}

// ---- child side: syscalls only from here on ----

namespace {

// mkdir -p inside the view (a fixed buffer: no allocation).
int make_directories(const char * path) {
  char buffer[PATH_MAX];
  size_t length = std::strlen(path);
  if (length >= sizeof buffer) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(buffer, path, length + 1);
  for (size_t i = 1; i <= length; ++i) {
    if (buffer[i] != '/' && buffer[i] != '\0') continue;
    char saved = buffer[i];
    buffer[i] = '\0';
    if (mkdir(buffer, 0755) != 0 && errno != EEXIST) return -1;
    buffer[i] = saved;
  }
  return 0;
}

SetupError enter_staging_root() {
  M1_SETUP_CALL(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private");
  M1_SETUP_CALL(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700"), "mount staging tmpfs");
  M1_SETUP_CALL(mkdir("/tmp/newroot", 0755), "mkdir staging newroot");
  M1_SETUP_CALL(mkdir("/tmp/oldroot", 0755), "mkdir staging oldroot");
  M1_SETUP_CALL(syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot"), "pivot_root to staging");
  M1_SETUP_CALL(chdir("/"), "chdir staging root");
  M1_SETUP_CALL(mount("/oldroot", "/newroot", nullptr, MS_BIND | MS_REC, nullptr), "bind host root");
  M1_SETUP_CALL(set_mount_attributes("/newroot", true, kAttrReadOnly | kAttrNoSuid | kAttrNoDev),
                "make the host root read-only (mount_setattr needs Linux >= 5.12)");
  return setup_ok();
}

SetupError build_dev() {
  M1_SETUP_CALL(mount("tmpfs", "/newroot/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k"), "mount /dev tmpfs");
  static const char * const kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};
  char source[64];
  char target[64];
  for (const char * device : kDevices) {
    std::strcpy(source, "/oldroot/dev/");
    std::strcat(source, device);
    std::strcpy(target, "/newroot/dev/");
    std::strcat(target, device);
    if (access(source, F_OK) != 0) continue;
    int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    M1_SETUP_CALL(fd, "create a /dev node");
    close(fd);
    M1_SETUP_CALL(mount(source, target, nullptr, MS_BIND, nullptr), "bind a /dev node");
  }
  static const char * const kLinks[][2] = {{"/proc/self/fd", "/newroot/dev/fd"},
                                           {"/proc/self/fd/0", "/newroot/dev/stdin"},
                                           {"/proc/self/fd/1", "/newroot/dev/stdout"},
                                           {"/proc/self/fd/2", "/newroot/dev/stderr"},
                                           {"pts/ptmx", "/newroot/dev/ptmx"}};
  for (const auto & link : kLinks) M1_SETUP_CALL(symlink(link[0], link[1]), "symlink in /dev");
  M1_SETUP_CALL(mkdir("/newroot/dev/shm", 01777), "mkdir /dev/shm");
  M1_SETUP_CALL(mkdir("/newroot/dev/pts", 0755), "mkdir /dev/pts");
  M1_SETUP_CALL(mount("tmpfs", "/newroot/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"), "mount /dev/shm");
  // A private pty instance is a convenience (script(1), pty-using tools), not isolation: a kernel
  // without it still gets a sandbox, only without terminals.
  mount("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
  M1_SETUP_CALL(set_mount_attributes("/newroot/dev", false, kAttrReadOnly), "make /dev read-only");
  return setup_ok();
}

SetupError apply_step(const MountStep & step) {
  const char * target = step.target.c_str();
  switch (step.kind) {
    case MountStep::Kind::bind_writable:
      M1_SETUP_CALL(make_directories(target), "create a writable path's mount point");
      M1_SETUP_CALL(mount(step.source.c_str(), target, nullptr, MS_BIND | MS_REC, nullptr), "bind a writable path");
      M1_SETUP_CALL(set_mount_attributes(target, true, kAttrNoSuid | kAttrNoDev), "make a writable path nosuid");
      return setup_ok();
    case MountStep::Kind::mask_dir:
      if (access(target, F_OK) != 0) return setup_ok();  // under another mask already
      M1_SETUP_CALL(mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16k"),
                    "hide a denied directory");
      return setup_ok();
    case MountStep::Kind::mask_file:
      if (access(target, F_OK) != 0) return setup_ok();
      M1_SETUP_CALL(mount(step.source.c_str(), target, nullptr, MS_BIND, nullptr), "hide a denied file");
      M1_SETUP_CALL(set_mount_attributes(target, false, kAttrReadOnly | kAttrNoSuid), "make a hidden file read-only");
      return setup_ok();
    case MountStep::Kind::protect:
      M1_SETUP_CALL(mount(target, target, nullptr, MS_BIND | MS_REC, nullptr), "bind a protected path");
      M1_SETUP_CALL(set_mount_attributes(target, true, kAttrReadOnly), "make a protected path read-only");
      return setup_ok();
  }
  return setup_ok();
}

}  // namespace

SetupError apply_filesystem_view(const MountPlan & plan) {
  M1_SETUP_RETURN_IF_FAILED(enter_staging_root());
  M1_SETUP_CALL(mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
                "mount a fresh /proc (refused when the host's /proc has masked paths, as in containers)");
  M1_SETUP_RETURN_IF_FAILED(build_dev());
  M1_SETUP_CALL(mount("tmpfs", "/newroot/tmp", "tmpfs", MS_NOSUID | MS_NODEV, plan.tmp_options.c_str()),
                "mount the private /tmp");
  for (const MountStep & step : plan.steps) M1_SETUP_RETURN_IF_FAILED(apply_step(step));
  // Masks stay writable until every mount point inside them exists; now seal them.
  for (const MountStep & step : plan.steps)
    if (step.kind == MountStep::Kind::mask_dir && access(step.target.c_str(), F_OK) == 0)
      M1_SETUP_CALL(set_mount_attributes(step.target.c_str(), false, kAttrReadOnly), "make a hidden directory read-only");
  M1_SETUP_CALL(chdir("/newroot"), "chdir to the new root");
  M1_SETUP_CALL(syscall(SYS_pivot_root, ".", "."), "pivot_root to the new root");
  M1_SETUP_CALL(umount2(".", MNT_DETACH), "detach the staging root");
  M1_SETUP_CALL(chdir("/"), "chdir /");
  return setup_ok();
}

}  // namespace m1::sandbox
