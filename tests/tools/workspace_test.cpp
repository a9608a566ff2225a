// Workspace confinement: lexical escapes, symlink escapes (absolute, relative, in a parent folder),
// symlinks swapped during calls, and the atomic write. The host file system is the oracle.
#include "tools/workspace.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "tests/tools/workspace_fixture.h"

using namespace m1::tools;

namespace {

class WorkspaceConfinement : public m1::test::WorkspaceTest {
protected:
  Workspace open() {
    auto ws = Workspace::open(root);
    EXPECT_TRUE(ws.ok()) << ws.status().message();
    return std::move(*ws);
  }
};

}  // namespace

TEST(NormalizeRelativePath, CollapsesDotsAndSlashes) {
  EXPECT_EQ(*normalize_relative_path("a/./b//c/../d"), "a/b/d");
  EXPECT_EQ(*normalize_relative_path(""), ".");
  EXPECT_EQ(*normalize_relative_path("a/.."), ".");
  EXPECT_FALSE(normalize_relative_path("a/../../b").ok());
  EXPECT_FALSE(normalize_relative_path("..").ok());
}

TEST_F(WorkspaceConfinement, OpenFailsForAMissingFolder) {
  auto ws = Workspace::open(root + "/missing");
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.status().message(), "workspace " + root + "/missing: No such file or directory");
}

TEST_F(WorkspaceConfinement, RelativeAcceptsPathsInsideOnly) {
  Workspace ws = open();
  EXPECT_EQ(*ws.relative("src/a.cpp"), "src/a.cpp");
  EXPECT_EQ(*ws.relative(root + "/src/a.cpp"), "src/a.cpp");
  EXPECT_EQ(*ws.relative(root), ".");
  EXPECT_EQ(*ws.relative(root + "/"), ".");
  EXPECT_EQ(ws.relative("/etc/passwd").status().message(),
            "/etc/passwd: is outside the workspace " + ws.root() + "; use a path inside it");
  EXPECT_FALSE(ws.relative("../outside/x").ok());
  EXPECT_FALSE(ws.relative(root + "/../outside/x").ok());
  EXPECT_FALSE(ws.relative(root + "-sibling/x").ok());  // a prefix of the name is not the folder
  EXPECT_EQ(ws.relative("").status().message(), "the path is empty; give a path inside the workspace " + ws.root());
}

TEST_F(WorkspaceConfinement, RootReachedThroughASymlinkAcceptsBothSpellings) {
  std::string link = outside + "/link-to-ws";
  ASSERT_EQ(::symlink(root.c_str(), link.c_str()), 0);
  auto ws = Workspace::open(link);
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(*ws->relative(link + "/a"), "a");
  EXPECT_EQ(*ws->relative(ws->root() + "/a"), "a");
}

TEST_F(WorkspaceConfinement, AbsoluteSymlinkOutsideIsRefused) {
  write("../outside/secret", "secret");
  symlink(outside + "/secret", "link");
  Workspace ws = open();
  auto read = ws.read_file("link", 1 << 20);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().message(),
            "link: resolves outside the workspace (through \"..\" or a symlink); only files inside it can be used");
}

TEST_F(WorkspaceConfinement, RelativeSymlinkClimbingOutIsRefused) {
  write("../outside/secret", "secret");
  std::filesystem::create_directories(root + "/d");
  symlink("../../outside/secret", "d/link");
  Workspace ws = open();
  EXPECT_FALSE(ws.read_file("d/link", 1 << 20).ok());
  EXPECT_FALSE(ws.info("d/link").ok());
}

TEST_F(WorkspaceConfinement, SymlinkedParentFolderOutsideIsRefusedForWrites) {
  symlink(outside, "out");
  Workspace ws = open();
  m1::Status status = ws.write_file("out/new.txt", "x", false);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(std::filesystem::exists(outside + "/new.txt"));
  EXPECT_FALSE(ws.write_file("out/sub/new.txt", "x", true).ok());
  EXPECT_FALSE(std::filesystem::exists(outside + "/sub"));
  EXPECT_FALSE(ws.remove_file("out/anything").ok());
}

TEST_F(WorkspaceConfinement, ProcMagicLinksAreRefused) {
  symlink("/proc/self/root/etc/passwd", "passwd");
  Workspace ws = open();
  EXPECT_FALSE(ws.read_file("passwd", 1 << 20).ok());
}

TEST_F(WorkspaceConfinement, SymlinkInsideIsFollowedAndWrittenThrough) {
  write("real.txt", "old");
  symlink("real.txt", "alias.txt");
  Workspace ws = open();
  EXPECT_EQ(*ws.read_file("alias.txt", 1 << 20), "old");
  ASSERT_TRUE(ws.write_file("alias.txt", "new", false).ok());
  EXPECT_EQ(read("real.txt"), "new");
  struct stat st {};
  ASSERT_EQ(::lstat((root + "/alias.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));  // the link stays a link
}

TEST_F(WorkspaceConfinement, AtomicWriteReplacesTheInodeAndKeepsThePermissions) {
  write("run.sh", "#!/bin/sh\n");
  ASSERT_EQ(::chmod((root + "/run.sh").c_str(), 0751), 0);
  struct stat before {}, after {};
  ASSERT_EQ(::stat((root + "/run.sh").c_str(), &before), 0);
  Workspace ws = open();
  ASSERT_TRUE(ws.write_file("run.sh", "#!/bin/sh\necho hi\n", false).ok());
  ASSERT_EQ(::stat((root + "/run.sh").c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);  // a new file renamed over the old one
  EXPECT_EQ(after.st_mode & 07777, 0751u);
  EXPECT_EQ(read("run.sh"), "#!/bin/sh\necho hi\n");
  size_t n_entries = 0;
  for (auto & entry : std::filesystem::directory_iterator(root)) (void)entry, ++n_entries;
  EXPECT_EQ(n_entries, 1u);  // no temporary file left behind
}

TEST_F(WorkspaceConfinement, MakeDirectoriesAndRemove) {
  Workspace ws = open();
  ASSERT_TRUE(ws.write_file("a/b/c.txt", "x", true).ok());
  EXPECT_EQ(read("a/b/c.txt"), "x");
  EXPECT_EQ(ws.write_file("x/y.txt", "x", false).message(), "x/y.txt: no such file or directory");
  ASSERT_TRUE(ws.remove_file("a/b/c.txt").ok());
  EXPECT_FALSE(exists("a/b/c.txt"));
  write("file", "x");
  EXPECT_EQ(ws.make_directories("file/sub").message(), "file: a component of the path is not a directory");
}

TEST_F(WorkspaceConfinement, ListDirectorySortsAndTypesEntries) {
  write("b.txt", "");
  write("a/x", "");
  symlink("b.txt", "c");
  Workspace ws = open();
  auto entries = ws.list_directory(".");
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].name, "a");
  EXPECT_TRUE((*entries)[0].is_directory);
  EXPECT_TRUE((*entries)[1].is_regular);
  EXPECT_TRUE((*entries)[2].is_symlink);
}

// A symlink flipped between an inside folder and an outside one while reads and writes go
// through it: no access may ever land outside.
TEST_F(WorkspaceConfinement, SymlinkSwappedDuringCallsNeverEscapes) {
  write("inside/data.txt", "inside");
  write("../outside/data.txt", "outside");
  symlink("inside", "flip");
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    std::string link = root + "/flip", staging = root + "/flip.tmp";
    for (int i = 0; !stop; ++i) {
      ::unlink(staging.c_str());
      if (::symlink(i % 2 ? "inside" : outside.c_str(), staging.c_str()) == 0) ::rename(staging.c_str(), link.c_str());
    }
  });
  Workspace ws = open();
  int reads_outside = 0;
  for (int i = 0; i < 2000; ++i) {
    auto content = ws.read_file("flip/data.txt", 1 << 20);
    if (content && *content == "outside") ++reads_outside;
    (void)ws.write_file("flip/written.txt", "w", false);
  }
  stop = true;
  flipper.join();
  EXPECT_EQ(reads_outside, 0);
  EXPECT_FALSE(std::filesystem::exists(outside + "/written.txt"));
  EXPECT_EQ(read_host(outside + "/data.txt"), "outside");
}
