// The probes must agree with what the kernel says through an independent route.
#include "sandbox/isolation_probe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>

TEST(IsolationProbe, SeccompAgreesWithProcStatus) {
  // /proc/self/status has a "Seccomp:" line exactly when the kernel was built with seccomp.
  std::ifstream status("/proc/self/status");
  bool kernel_has_seccomp = false;
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Seccomp:", 0) == 0) kernel_has_seccomp = true;
  m1::sandbox::ProbeResult probe = m1::sandbox::probe_seccomp();
  EXPECT_EQ(probe.usable, kernel_has_seccomp) << probe.reason;
  EXPECT_EQ(probe.reason.empty(), probe.usable);
}

TEST(IsolationProbe, UserNamespacesReportAReasonWhenUnusable) {
  m1::sandbox::ProbeResult probe = m1::sandbox::probe_user_namespaces();
  // The kernel's own limit: zero allowed user namespaces means none can be created.
  std::ifstream limit("/proc/sys/user/max_user_namespaces");
  long max_namespaces = -1;
  if (limit >> max_namespaces && max_namespaces == 0) {
    EXPECT_FALSE(probe.usable);
  }
  if (probe.usable) {
    EXPECT_TRUE(probe.reason.empty());
  } else {
    EXPECT_NE(probe.reason.find("CLONE_NEWUSER"), std::string::npos) << probe.reason;
  }
}

TEST(IsolationProbe, LibseccompVersionIsDotted) {
  std::string version = m1::sandbox::libseccomp_version();
  EXPECT_EQ(std::count(version.begin(), version.end(), '.'), 2) << version;
}
