// Writing the sandbox's uid/gid maps (see user_namespace.h).
#include "sandbox/user_namespace.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace m1::sandbox {

IdMaps id_maps_for_current_user() {
  IdMaps maps;
  std::snprintf(maps.uid_map, sizeof maps.uid_map, "%u %u 1\n", geteuid(), geteuid());
  std::snprintf(maps.gid_map, sizeof maps.gid_map, "%u %u 1\n", getegid(), getegid());
  return maps;
}

namespace {

SetupError write_proc_file(const char * path, const char * text, const char * step) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  M1_SETUP_CALL(fd, step);
  ssize_t n = write(fd, text, std::strlen(text));
  int saved = errno;
  close(fd);
  if (n < 0) return setup_failed(step, saved);
  return setup_ok();
}

}  // namespace

SetupError apply_id_maps(const IdMaps & maps) {
  // An unprivileged writer must deny setgroups before it may write gid_map.
  M1_SETUP_RETURN_IF_FAILED(write_proc_file("/proc/self/setgroups", "deny", "write /proc/self/setgroups"));
  M1_SETUP_RETURN_IF_FAILED(write_proc_file("/proc/self/uid_map", maps.uid_map, "write /proc/self/uid_map"));
  M1_SETUP_RETURN_IF_FAILED(write_proc_file("/proc/self/gid_map", maps.gid_map, "write /proc/self/gid_map"));
  return setup_ok();
}

}  // namespace m1::sandbox
