// apply_patch: parsing, each section kind, hunk matching tolerance, anchors, End of File, byte
// preservation, all-or-nothing application and its error messages.
#include "tools/apply_patch_tool.h"

#include <gtest/gtest.h>

#include "tests/tools/workspace_fixture.h"
#include "tools/patch_format.h"
#include "tools/registry.h"

using namespace m1::tools;

TEST(PatchFormat, ParsesEverySectionKind) {
  auto files = parse_patch(
      "\n*** Begin Patch\r\n*** Add File: n.txt\n+one\n+\n*** Delete File: d.txt\n*** Update File: u.txt\n"
      "*** Move to: v.txt\n@@ class A\n ctx\n-old\n+new\n*** End of File\n@@\n x\n*** End Patch\n\n");
  ASSERT_TRUE(files.ok()) << files.status().message();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].action, PatchAction::add);
  EXPECT_EQ((*files)[0].added_lines, (std::vector<std::string>{"one", ""}));
  EXPECT_EQ((*files)[1].action, PatchAction::remove);
  EXPECT_EQ((*files)[1].path, "d.txt");
  const FilePatch & update = (*files)[2];
  EXPECT_EQ(update.move_to, "v.txt");
  ASSERT_EQ(update.hunks.size(), 2u);
  EXPECT_EQ(update.hunks[0].anchor, "class A");
  EXPECT_TRUE(update.hunks[0].at_end_of_file);
  EXPECT_EQ(update.hunks[0].lines.size(), 3u);
  EXPECT_EQ(update.hunks[0].patch_line, 9u);  // the patch starts with an empty line
  EXPECT_EQ(update.hunks[1].anchor, "");
}

TEST(PatchFormat, MalformedPatchesSayWhereAndWhy) {
  EXPECT_EQ(parse_patch("*** Update File: a\n").status().message(),
            "the patch must start with a line \"*** Begin Patch\"");
  EXPECT_EQ(parse_patch("*** Begin Patch\n*** Update File: a\n@@\n x\n").status().message(),
            "the patch must end with a line \"*** End Patch\"");
  EXPECT_EQ(parse_patch("*** Begin Patch\n*** End Patch").status().message(),
            "the patch changes no file (no *** Add, Delete or Update File section)");
  EXPECT_EQ(parse_patch("*** Begin Patch\n*** Add File: a\nno plus\n*** End Patch").status().message(),
            "patch line 3: in \"*** Add File: a\" every line must start with '+', found \"no plus\"");
  EXPECT_EQ(parse_patch("*** Begin Patch\n*** Update File: a\n@@\n x\n?bad\n*** End Patch").status().message(),
            "patch line 5: a hunk line must start with ' ' (context), '-' (remove) or '+' (add), found \"?bad\"");
  EXPECT_EQ(parse_patch("*** Begin Patch\n*** Update File: a\n*** End Patch").status().message(),
            "patch line 2: \"*** Update File: a\" has no hunks");
  EXPECT_EQ(parse_patch("*** Begin Patch\n*** Frobnicate File: a\n*** End Patch").status().message(),
            "patch line 2: expected \"*** Add File: \", \"*** Delete File: \" or \"*** Update File: \", found "
            "\"*** Frobnicate File: a\"");
  EXPECT_EQ(parse_patch("*** Begin Patch\n*** Update File: a\n@@\n*** End Patch").status().message(),
            "patch line 3: the hunk has no lines (each line starts with ' ', '-' or '+')");
}

namespace {

class ApplyPatchTest : public m1::test::WorkspaceTest {
protected:
  void SetUp() override {
    WorkspaceTest::SetUp();
    ASSERT_TRUE(registry.add(std::make_unique<ApplyPatchTool>()).ok());
  }
  ToolResult apply(const std::string & body) {
    return registry.call("apply_patch", {{"patch", "*** Begin Patch\n" + body + "*** End Patch\n"}}, context);
  }
  ToolRegistry registry;
};

}  // namespace

TEST_F(ApplyPatchTest, UpdateWithContext) {
  write("src/app.py", "import os\n\ndef main():\n    print('hi')\n    return 0\n");
  ToolResult r = apply("*** Update File: src/app.py\n@@ def main():\n-    print('hi')\n+    print('hello')\n     return 0\n");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(r.text, "Success. Updated the following files:\nM src/app.py\n");
  EXPECT_EQ(read("src/app.py"), "import os\n\ndef main():\n    print('hello')\n    return 0\n");
  EXPECT_EQ(r.metadata["diff"], "--- a/src/app.py\n+++ b/src/app.py\n@@ -1,5 +1,5 @@\n import os\n \n def main():\n"
                                "-    print('hi')\n+    print('hello')\n     return 0\n");
}

TEST_F(ApplyPatchTest, AddDeleteAndMove) {
  write("old.txt", "bye\n");
  write("a.txt", "1\n2\n3\n");
  ToolResult r = apply("*** Add File: dir/new.txt\n+hello\n+world\n*** Delete File: old.txt\n"
                       "*** Update File: a.txt\n*** Move to: b/a.txt\n@@\n 1\n-2\n+two\n");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(r.text, "Success. Updated the following files:\nA dir/new.txt\nD old.txt\nM b/a.txt (moved from a.txt)\n");
  EXPECT_EQ(read("dir/new.txt"), "hello\nworld\n");
  EXPECT_FALSE(exists("old.txt"));
  EXPECT_FALSE(exists("a.txt"));
  EXPECT_EQ(read("b/a.txt"), "1\ntwo\n3\n");
}

TEST_F(ApplyPatchTest, SeveralHunksApplyInOrderAndAnchorsDisambiguate) {
  write("f.py", "def a():\n    return 1\n\ndef b():\n    return 1\n\ndef c():\n    return 1\n");
  ToolResult r = apply("*** Update File: f.py\n@@ def b():\n-    return 1\n+    return 2\n@@ def c():\n-    return 1\n+    return 3\n");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("f.py"), "def a():\n    return 1\n\ndef b():\n    return 2\n\ndef c():\n    return 3\n");
}

TEST_F(ApplyPatchTest, EndOfFileHunkMatchesTheLastLines) {
  write("f.txt", "x\ny\nx\ny\n");
  ToolResult r = apply("*** Update File: f.txt\n@@\n x\n-y\n+z\n*** End of File\n");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("f.txt"), "x\ny\nx\nz\n");
}

TEST_F(ApplyPatchTest, WhitespaceToleranceKeepsTheFilesContextBytes) {
  write("f.txt", "keep   \n\tvalue = 1\nend\n");
  // The model dropped the trailing spaces and wrote spaces for the tab.
  ToolResult r = apply("*** Update File: f.txt\n@@\n keep\n-    value = 1\n+\tvalue = 2\n end\n");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("f.txt"), "keep   \n\tvalue = 2\nend\n");
}

TEST_F(ApplyPatchTest, CrlfAndMissingFinalNewlineArePreserved) {
  write("w.txt", "a\r\nb\r\nc");
  ToolResult r = apply("*** Update File: w.txt\n@@\n a\n-b\n+B1\n+B2\n c\n");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("w.txt"), "a\r\nB1\r\nB2\r\nc");
}

TEST_F(ApplyPatchTest, PureAdditionGoesAfterTheAnchorOrAtTheEnd) {
  write("f.txt", "head\nbody\n");
  EXPECT_FALSE(apply("*** Update File: f.txt\n@@ head\n+inserted\n").is_error);
  EXPECT_EQ(read("f.txt"), "head\ninserted\nbody\n");
  EXPECT_FALSE(apply("*** Update File: f.txt\n@@\n+tail\n").is_error);
  EXPECT_EQ(read("f.txt"), "head\ninserted\nbody\ntail\n");
}

TEST_F(ApplyPatchTest, UnicodeLines) {
  write("u.txt", "naïve café\n日本語\n");
  EXPECT_FALSE(apply("*** Update File: u.txt\n@@\n-日本語\n+中文 🙂\n").is_error);
  EXPECT_EQ(read("u.txt"), "naïve café\n中文 🙂\n");
}

TEST_F(ApplyPatchTest, AHunkThatDoesNotMatchChangesNothing) {
  write("a.txt", "1\n2\n");
  write("b.txt", "x\ny\n");
  ToolResult r = apply("*** Update File: a.txt\n@@\n-1\n+one\n*** Update File: b.txt\n@@\n x\n-q\n+z\n");
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "the patch was not applied (no file was changed): hunk 1 of b.txt (patch line 7) did not match: "
                    "these lines were not found:\n  x\n  q\nView the file and copy the context and '-' lines exactly.");
  EXPECT_EQ(read("a.txt"), "1\n2\n");
  EXPECT_EQ(read("b.txt"), "x\ny\n");
}

TEST_F(ApplyPatchTest, MissingAnchorIsNamed) {
  write("a.txt", "1\n");
  EXPECT_EQ(apply("*** Update File: a.txt\n@@ def nowhere():\n-1\n+2\n").text,
            "the patch was not applied (no file was changed): hunk 1 of a.txt (patch line 3) did not match: the @@ "
            "line \"def nowhere():\" was not found");
}

TEST_F(ApplyPatchTest, FileStateErrors) {
  write("exists.txt", "x\n");
  EXPECT_EQ(apply("*** Add File: exists.txt\n+y\n").text,
            "the patch was not applied (no file was changed): exists.txt: already exists; use \"*** Update File: "
            "exists.txt\" to change it");
  EXPECT_EQ(apply("*** Delete File: missing.txt\n").text,
            "the patch was not applied (no file was changed): missing.txt: no such file; check the path (\"*** Add "
            "File\" creates one)");
  EXPECT_EQ(apply("*** Update File: missing.txt\n@@\n-a\n+b\n").text,
            "the patch was not applied (no file was changed): missing.txt: no such file; check the path (\"*** Add "
            "File\" creates one)");
  write("other.txt", "o\n");
  EXPECT_EQ(apply("*** Update File: exists.txt\n*** Move to: other.txt\n@@\n-x\n+y\n").text,
            "the patch was not applied (no file was changed): other.txt: already exists; \"*** Move to\" does not "
            "overwrite");
  write("bin.dat", std::string("a\0b", 3));
  EXPECT_EQ(apply("*** Update File: bin.dat\n@@\n-a\n+b\n").text,
            "the patch was not applied (no file was changed): bin.dat: looks like a binary file (it contains NUL "
            "bytes); text tools only handle text");
  EXPECT_EQ(read("exists.txt"), "x\n");
}

TEST_F(ApplyPatchTest, ParseErrorsAreReported) {
  ToolResult r = registry.call("apply_patch", {{"patch", "--- a/x\n+++ b/x\n"}}, context);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "the patch was not applied: the patch must start with a line \"*** Begin Patch\"");
}

TEST_F(ApplyPatchTest, PathsOutsideTheWorkspaceAreRefused) {
  symlink(outside, "out");
  write("../outside/t.txt", "t\n");
  EXPECT_EQ(apply("*** Add File: ../escape.txt\n+x\n").text,
            "the patch was not applied (no file was changed): ../escape.txt: is outside the workspace " + root +
                "; use a path inside it");
  EXPECT_TRUE(apply("*** Update File: out/t.txt\n@@\n-t\n+u\n").is_error);
  EXPECT_TRUE(apply("*** Add File: out/new.txt\n+x\n").is_error);
  EXPECT_TRUE(apply("*** Delete File: /etc/hostname\n").is_error);
  EXPECT_EQ(read_host(outside + "/t.txt"), "t\n");
  EXPECT_FALSE(std::filesystem::exists(outside + "/new.txt"));
}

// A write that fails after others succeeded (here: "d" becomes a file, then "d/x.txt" cannot be
// created) restores the files already written.
TEST_F(ApplyPatchTest, AFailedWriteRollsBackTheOthers) {
  write("a.txt", "1\n");
  ToolResult r = apply("*** Update File: a.txt\n@@\n-1\n+2\n*** Add File: d\n+file\n*** Add File: d/x.txt\n+x\n");
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "the patch was not applied: d/x.txt: d: exists and is not a directory; no file was changed");
  EXPECT_EQ(read("a.txt"), "1\n");
  EXPECT_FALSE(exists("d"));
}

TEST_F(ApplyPatchTest, SeveralSectionsOnOneFileCompose) {
  write("a.txt", "1\n2\n3\n");
  EXPECT_FALSE(apply("*** Update File: a.txt\n@@\n-1\n+one\n*** Update File: a.txt\n@@\n-3\n+three\n").is_error);
  EXPECT_EQ(read("a.txt"), "one\n2\nthree\n");
}
