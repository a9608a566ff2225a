// Bringing up loopback inside the sandbox's fresh network namespace.
#include "sandbox/network_namespace.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace m1::sandbox {

SetupError bring_up_loopback() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  M1_SETUP_CALL(fd, "socket for loopback set-up");
  struct ifreq request;
  std::memset(&request, 0, sizeof request);
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(fd, SIOCGIFFLAGS, &request);
  if (rc == 0) {
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(fd, SIOCSIFFLAGS, &request);
  }
  int saved = errno;
  close(fd);
  if (rc < 0) return setup_failed("bring up loopback", saved);
  return setup_ok();
}

}  // namespace m1::sandbox
