// The sandbox's seccomp policy (see seccomp_policy.h): which syscalls are refused and how.
// Compared with firejail's default list and Docker's default profile; the families below are
// the kernel attack surface an agent's commands never need.
#include "sandbox/seccomp_policy.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace m1::sandbox {

namespace {

// Refused with EPERM.
const char * const kDeniedSyscalls[] = {
    // mounts and root changes, including the new mount API
    "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr",
    // kernel attack surface: BPF, perf, userfaultfd, io_uring, keyrings
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",
    // the machine itself: kernels, modules, power, swap, clock, I/O ports, logs, accounting
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "query_module", "get_kernel_syms", "reboot", "swapon", "swapoff", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "iopl", "ioperm", "syslog", "acct", "quotactl", "quotactl_fd",
    "lookup_dcookie", "uselib", "ustat", "sysfs", "_sysctl", "vhangup", "nfsservctl", "modify_ldt",
    // other processes and other files' handles
    "open_by_handle_at", "name_to_handle_at", "kcmp", "pidfd_getfd", "process_madvise",
    "move_pages", "migrate_pages", "mbind", "set_mempolicy", "fanotify_init",
    // namespaces
    "setns",
};

// Reported to the sandbox's init, which kills the caller: reading or writing another process's
// memory is never an accident.
const char * const kKillClassSyscalls[] = {"ptrace", "process_vm_readv", "process_vm_writev"};

const unsigned long kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                         CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

Status add_rule(scmp_filter_ctx ctx, uint32_t action, const char * name, unsigned n_args,
                const scmp_arg_cmp * args) {
  int number = seccomp_syscall_resolve_name(name);
  if (number == __NR_SCMP_ERROR) return Status();  // not a syscall on this architecture
  int rc = seccomp_rule_add_array(ctx, action, number, n_args, args);
  if (rc != 0)
    return Status::error(std::string("seccomp rule for ") + name + ": " + std::strerror(-rc));
  return Status();
}

Status add_namespace_rules(scmp_filter_ctx ctx) {
  // clone carries its flags in a register and can be filtered per flag; clone3 passes them in
  // memory a filter cannot read, so it answers ENOSYS and libc falls back to clone.
  for (unsigned long flag : kNamespaceFlags) {
    scmp_arg_cmp has_flag = SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag);
    M1_RETURN_IF_ERROR(add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &has_flag));
    M1_RETURN_IF_ERROR(add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "unshare", 1, &has_flag));
  }
  scmp_arg_cmp has_time = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME);
  M1_RETURN_IF_ERROR(add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "unshare", 1, &has_time));
  return add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, nullptr);
}

Status add_terminal_rules(scmp_filter_ctx ctx) {
  // The kernel reads ioctl's request as 32 bits: compare only those, or 1<<32 | TIOCSTI passes.
  for (unsigned long request : {(unsigned long)TIOCSTI, (unsigned long)TIOCLINUX}) {
    scmp_arg_cmp is_request = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, request);
    M1_RETURN_IF_ERROR(add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &is_request));
  }
  return Status();
}

Status add_socket_rules(scmp_filter_ctx ctx, bool allow_network) {
  if (!allow_network) {
    // Anything but exactly AF_UNIX (a 64-bit compare: extra high bits are refused too).
    scmp_arg_cmp not_unix = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
    return add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "socket", 1, &not_unix);
  }
  scmp_arg_cmp is_vsock = SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL, AF_VSOCK);
  return add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "socket", 1, &is_vsock);
}

Status add_all_rules(scmp_filter_ctx ctx, bool allow_network) {
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc != 0) return Status::error(std::string("seccomp bad-arch action: ") + std::strerror(-rc));
  for (const char * name : kDeniedSyscalls)
    M1_RETURN_IF_ERROR(add_rule(ctx, SCMP_ACT_ERRNO(EPERM), name, 0, nullptr));
  for (const char * name : kKillClassSyscalls)
    M1_RETURN_IF_ERROR(add_rule(ctx, SCMP_ACT_NOTIFY, name, 0, nullptr));
  M1_RETURN_IF_ERROR(add_namespace_rules(ctx));
  M1_RETURN_IF_ERROR(add_terminal_rules(ctx));
  return add_socket_rules(ctx, allow_network);
}

Expected<std::shared_ptr<const SeccompProgram>> compile(bool allow_network) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return Status::error("seccomp_init failed");
  Status added = add_all_rules(ctx, allow_network);
  if (!added.ok()) {
    seccomp_release(ctx);
    return added;
  }
  // libseccomp 2.5 exports only to a file descriptor: go through an anonymous memory file.
  int fd = memfd_create("m1-seccomp", MFD_CLOEXEC);
  int rc = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  if (rc != 0) {
    if (fd >= 0) close(fd);
    return Status::error(std::string("seccomp_export_bpf: ") + std::strerror(-rc));
  }
  off_t size = lseek(fd, 0, SEEK_END);
  auto program = std::make_shared<SeccompProgram>();
  program->instructions.resize(size_t(size) / sizeof(sock_filter));
  ssize_t n = pread(fd, program->instructions.data(), size_t(size), 0);
  close(fd);
  if (n != size || program->instructions.empty()) return Status::error("seccomp: exported filter unreadable");
  return std::shared_ptr<const SeccompProgram>(std::move(program));
}

}  // namespace

Expected<std::shared_ptr<const SeccompProgram>> seccomp_program(bool allow_network) {
  static std::mutex mutex;
  static std::shared_ptr<const SeccompProgram> cached[2];
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<const SeccompProgram> & slot = cached[allow_network ? 1 : 0];
  if (!slot) {
    Expected<std::shared_ptr<const SeccompProgram>> compiled = compile(allow_network);
    if (!compiled.ok()) return compiled.status();
    slot = *compiled;
  }
  return slot;
}

SetupError install_seccomp(const SeccompProgram & program, int * listener_fd) {
  M1_SETUP_CALL(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
  struct sock_fprog fprog;
  fprog.len = (unsigned short)program.instructions.size();
  fprog.filter = const_cast<sock_filter *>(program.instructions.data());
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
  if (fd < 0) return setup_failed("load the seccomp filter (needs Linux >= 5.0 for user notification)");
  *listener_fd = int(fd);
  return setup_ok();
}

std::string syscall_name(int number) {
  char * name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number);
  std::string result = name ? name : "syscall " + std::to_string(number);
  std::free(name);
  return result;
}

}  // namespace m1::sandbox
