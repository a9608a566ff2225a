/* Calls each named syscall with invalid arguments and prints "NAME=RESULT" per line, RESULT being
 * the errno name (EPERM, EFAULT, ...) or "ok". Arguments are chosen bubblewrap-style so that a
 * call the kernel reaches fails on them (EFAULT, EBADF, EINVAL) before any permission check,
 * while a call refused by the sandbox's seccomp filter shows EPERM. Every call is harmless even
 * when run as real root: nothing valid is ever passed. Special names:
 *   ptrace, process_vm_readv, process_vm_writev: real calls (a kill-class rule ends the probe)
 *   i386: getpid through int 0x80; x32: getpid with the x32 bit; both killed by the filter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define BAD ((void *)1) /* an address that always faults */

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static long call(const char *name) {
  if (!strcmp(name, "mount")) return syscall(SYS_mount, BAD, "/", NULL, 0, NULL);
  if (!strcmp(name, "umount2")) return syscall(SYS_umount2, BAD, 0);
  if (!strcmp(name, "pivot_root")) return syscall(SYS_pivot_root, BAD, BAD);
  if (!strcmp(name, "chroot")) return syscall(SYS_chroot, BAD);
  if (!strcmp(name, "fsopen")) return syscall(SYS_fsopen, BAD, 0);
  if (!strcmp(name, "fsconfig")) return syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0);
  if (!strcmp(name, "fsmount")) return syscall(SYS_fsmount, -1, 0, 0);
  if (!strcmp(name, "fspick")) return syscall(SYS_fspick, -1, BAD, 0);
  if (!strcmp(name, "move_mount")) return syscall(SYS_move_mount, -1, BAD, -1, BAD, 0);
  if (!strcmp(name, "open_tree")) return syscall(SYS_open_tree, -1, BAD, 0);
  if (!strcmp(name, "mount_setattr")) return syscall(SYS_mount_setattr, -1, BAD, 0, NULL, 0);
  if (!strcmp(name, "bpf")) return syscall(SYS_bpf, 0x7fff, NULL, 1 << 20);
  if (!strcmp(name, "perf_event_open")) return syscall(SYS_perf_event_open, BAD, 0, -1, -1, 0);
  if (!strcmp(name, "userfaultfd")) return syscall(SYS_userfaultfd, ~0);
  if (!strcmp(name, "io_uring_setup")) return syscall(SYS_io_uring_setup, 1, BAD);
  if (!strcmp(name, "io_uring_enter")) return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
  if (!strcmp(name, "io_uring_register")) return syscall(SYS_io_uring_register, -1, 0, NULL, 0);
  if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0);
  if (!strcmp(name, "add_key")) return syscall(SYS_add_key, BAD, BAD, NULL, 0, 0);
  if (!strcmp(name, "request_key")) return syscall(SYS_request_key, BAD, BAD, NULL, 0);
  if (!strcmp(name, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL);
  if (!strcmp(name, "kexec_file_load")) return syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0xdead0000UL);
  if (!strcmp(name, "init_module")) return syscall(SYS_init_module, BAD, 0, BAD);
  if (!strcmp(name, "finit_module")) return syscall(SYS_finit_module, -1, BAD, 0);
  if (!strcmp(name, "delete_module")) return syscall(SYS_delete_module, BAD, 0);
  if (!strcmp(name, "reboot")) return syscall(SYS_reboot, 0, 0, 0, NULL);
  if (!strcmp(name, "swapon")) return syscall(SYS_swapon, BAD, 0);
  if (!strcmp(name, "swapoff")) return syscall(SYS_swapoff, BAD);
  if (!strcmp(name, "open_by_handle_at")) return syscall(SYS_open_by_handle_at, -1, BAD, 0);
  if (!strcmp(name, "setns")) return syscall(SYS_setns, -1, 0);
  /* Namespace flags plus CLONE_FS, a combination the kernel rejects with EINVAL. */
  if (!strcmp(name, "clone_newuser")) return syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS, NULL, NULL, NULL, 0);
  if (!strcmp(name, "clone_newns")) return syscall(SYS_clone, CLONE_NEWNS | CLONE_FS, NULL, NULL, NULL, 0);
  if (!strcmp(name, "clone_newnet")) return syscall(SYS_clone, CLONE_NEWNET | CLONE_THREAD, NULL, NULL, NULL, 0);
  if (!strcmp(name, "clone_newpid")) return syscall(SYS_clone, CLONE_NEWPID | CLONE_THREAD, NULL, NULL, NULL, 0);
  if (!strcmp(name, "clone3")) return syscall(SYS_clone3, NULL, 0);
  /* CLONE_SETTLS is not an unshare flag: EINVAL once the kernel sees it. */
  if (!strcmp(name, "unshare_newuser")) return syscall(SYS_unshare, CLONE_NEWUSER | CLONE_SETTLS);
  if (!strcmp(name, "unshare_newns")) return syscall(SYS_unshare, CLONE_NEWNS | CLONE_SETTLS);
  if (!strcmp(name, "unshare_newnet")) return syscall(SYS_unshare, CLONE_NEWNET | CLONE_SETTLS);
  if (!strcmp(name, "unshare_newtime")) return syscall(SYS_unshare, CLONE_NEWTIME | CLONE_SETTLS);
  if (!strcmp(name, "tiocsti")) return syscall(SYS_ioctl, -1, TIOCSTI, BAD);
  if (!strcmp(name, "tiocsti_high_bits")) return syscall(SYS_ioctl, -1, (1UL << 32) | TIOCSTI, BAD);
  if (!strcmp(name, "tioclinux")) return syscall(SYS_ioctl, -1, TIOCLINUX, BAD);
  if (!strcmp(name, "ioctl_other")) return syscall(SYS_ioctl, -1, TIOCGWINSZ, BAD);
  if (!strcmp(name, "socket_unix")) return socket(AF_UNIX, SOCK_STREAM, 0);
  if (!strcmp(name, "socket_inet")) return socket(AF_INET, SOCK_STREAM, 0);
  if (!strcmp(name, "socket_inet6")) return socket(AF_INET6, SOCK_DGRAM, 0);
  if (!strcmp(name, "socket_netlink")) return socket(AF_NETLINK, SOCK_RAW, 0);
  if (!strcmp(name, "socket_packet")) return socket(AF_PACKET, SOCK_RAW, 0);
  if (!strcmp(name, "socket_raw")) return socket(AF_INET, SOCK_RAW, 1);
  if (!strcmp(name, "socket_vsock")) return socket(AF_VSOCK, SOCK_STREAM, 0);
  if (!strcmp(name, "socket_vsock_high_bits")) return syscall(SYS_socket, (1UL << 32) | AF_VSOCK, SOCK_STREAM, 0);
  if (!strcmp(name, "getpid")) return syscall(SYS_getpid);
  if (!strcmp(name, "ptrace")) return syscall(SYS_ptrace, 0x7fff, 0, 0, 0);
  if (!strcmp(name, "process_vm_readv")) return syscall(SYS_process_vm_readv, getpid(), BAD, 1, BAD, 1, 0);
  if (!strcmp(name, "process_vm_writev")) return syscall(SYS_process_vm_writev, getpid(), BAD, 1, BAD, 1, 0);
  if (!strcmp(name, "x32")) return syscall(0x40000000 | SYS_getpid);
  if (!strcmp(name, "i386")) {
    long result = 20; /* getpid in the i386 table */
    __asm__ volatile("int $0x80" : "+a"(result) : : "memory");
    return result < 0 ? (errno = (int)-result, -1) : result;
  }
  errno = ENOSYS;
  fprintf(stderr, "syscall_probe: unknown probe %s\n", name);
  return -2;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    errno = 0;
    long result = call(argv[i]);
    if (result >= 0) printf("%s=ok\n", argv[i]);
    else printf("%s=%s\n", argv[i], strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
    fflush(stdout);
  }
  return 0;
}
