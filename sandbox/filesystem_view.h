// The mount namespace: what the sandbox sees of the filesystem.
//   /            the host root, read-only, nosuid, nodev (recursive, one mount_setattr call)
//   workspace    read-write (plus Policy::extra_writable); nosuid, nodev
//   protected    paths inside the workspace kept read-only: .git/hooks, .git/config, the
//                project's own config folder (.m1), shell rc files, Policy::extra_protected
//   denied       secrets hidden behind an empty read-only tmpfs (directories) or /dev/null (files):
//                ~/.ssh, ~/.aws, ~/.config/gcloud, ... of the invoking user, /root unless it is the
//                workspace, /etc/shadow and friends, SSH host keys, daemon control sockets
//   /tmp         a private tmpfs (Limits::tmp_bytes)
//   /proc        a fresh procfs of the sandbox's pid namespace
//   /dev         a tmpfs with null, zero, full, random, urandom, tty, a private /dev/shm and pts
// Because everything outside the writable roots is a read-only mount, a symlink or /proc/self/root
// pointing out of the workspace cannot be used to write outside it, and hard links across the
// workspace's own mount fail with EXDEV.
// Limitation: a protected path that does not exist when the sandbox starts is not reserved (the
// sandbox could create it); the exception is .git/hooks, created on the host when .git exists.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "sandbox/sandbox.h"
#include "sandbox/setup_step.h"

namespace m1::sandbox {

struct MountStep {
  enum class Kind { bind_writable, mask_dir, mask_file, protect };
  Kind kind;
  std::string source;  // as seen during set-up: "/oldroot" + host path
  std::string target;  // as seen during set-up: "/newroot" + host path
};

struct MountPlan {
  std::vector<MountStep> steps;  // parents before children
  std::string tmp_options;       // tmpfs options of the private /tmp
};

// Parent side: resolves and checks every path of the policy (realpath, existence), and returns
// the steps in an order where each mount's parent exists first.
Expected<MountPlan> plan_filesystem_view(const Policy & policy, const Limits & limits);

// The default deny list for this user (host paths, before resolution); documented in README.md.
std::vector<std::string> default_denied_paths(const std::string & workspace);
const std::vector<std::string> & default_protected_paths();  // workspace-relative

// Child side, no allocation: builds the view and pivots into it. Needs the new mount namespace
// (and the new pid namespace for /proc).
SetupError apply_filesystem_view(const MountPlan & plan);

}  // namespace m1::sandbox
