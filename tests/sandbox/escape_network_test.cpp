// Escape suite, network: without Policy::allow_network nothing leaves the sandbox: TCP and UDP to
// the host's loopback (served by the test), DNS, bash's /dev/tcp, abstract unix sockets of the
// host. With it, the host's loopback is reachable (so the denials above are the policy, not a
// broken test).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "sandbox/sandbox.h"
#include "sandbox_test_support.h"

namespace {

using m1::sandbox::Result;
using m1::test::TempDir;

// A non-blocking socket bound to 127.0.0.1 on a free port; counts what reaches it.
class LoopbackServer {
public:
  explicit LoopbackServer(int type) {
    fd_ = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr *>(&address), &length);
    port_ = ntohs(address.sin_port);
    if (type == SOCK_STREAM) listen(fd_, 8);
  }
  ~LoopbackServer() { close(fd_); }
  int port() const { return port_; }
  bool reached() {  // a connection waiting, or a datagram received
    int accepted = accept(fd_, nullptr, nullptr);
    if (accepted >= 0) {
      close(accepted);
      return true;
    }
    char byte;
    return recv(fd_, &byte, 1, MSG_DONTWAIT) >= 0;
  }

private:
  int fd_ = -1;
  int port_ = 0;
};

Result run_script(const std::string & script, bool network = false) {
  TempDir ws;
  m1::sandbox::Request request = m1::test::shell_request(ws.path(), script);
  request.policy.allow_network = network;
  request.limits.wall_seconds = 10;
  m1::Expected<Result> r = m1::sandbox::run(request);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Result();
}

std::string python_connect(int port) {
  return "python3 -c 'import socket; s=socket.create_connection((\"127.0.0.1\", " + std::to_string(port) +
         "), timeout=2); print(\"connected\")'";
}

TEST(EscapeNetwork, TcpToHostLoopbackFails) {
  LoopbackServer server(SOCK_STREAM);
  Result r = run_script(python_connect(server.port()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out.text(), "");
  EXPECT_FALSE(server.reached());
}

TEST(EscapeNetwork, UdpToHostLoopbackFails) {
  LoopbackServer server(SOCK_DGRAM);
  Result r = run_script("python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b\"x\", "
                        "(\"127.0.0.1\", " + std::to_string(server.port()) + ")); print(\"sent\")'");
  EXPECT_NE(r.exit_code, 0);
  usleep(100000);
  EXPECT_FALSE(server.reached());
}

TEST(EscapeNetwork, BashDevTcpFails) {
  LoopbackServer server(SOCK_STREAM);
  Result r = run_script("bash -c 'echo hi > /dev/tcp/127.0.0.1/" + std::to_string(server.port()) + "' && echo sent");
  EXPECT_EQ(r.out.text(), "");
  EXPECT_FALSE(server.reached());
}

TEST(EscapeNetwork, DnsResolutionFails) {
  Result r = run_script("getent hosts example.com || echo unresolved; getent hosts localhost >/dev/null; echo done");
  EXPECT_EQ(r.out.text(), "unresolved\ndone\n");
}

TEST(EscapeNetwork, HostAbstractUnixSocketIsUnreachable) {
  // Abstract unix sockets belong to the network namespace: the host's cannot be reached.
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string name = "m1-sandbox-test-" + std::to_string(getpid());
  std::memcpy(address.sun_path + 1, name.data(), name.size());
  socklen_t length = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&address), length), 0);
  listen(fd, 4);
  Result r = run_script("python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect(\"\\0" + name +
                        "\"); print(\"connected\")'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.text().find("ConnectionRefused"), std::string::npos) << r.err.text();
  EXPECT_LT(accept(fd, nullptr, nullptr), 0);
  close(fd);
}

TEST(EscapeNetwork, OnlyLoopbackInterfaceExists) {
  Result r = run_script("ls /sys/class/net 2>/dev/null | head -0; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
  EXPECT_EQ(r.out.text(), "lo\n");
}

TEST(EscapeNetwork, AllowNetworkReachesHostLoopback) {
  LoopbackServer server(SOCK_STREAM);
  Result r = run_script(python_connect(server.port()), true);
  EXPECT_EQ(r.out.text(), "connected\n") << r.err.text();
  EXPECT_TRUE(server.reached());
}

}  // namespace
