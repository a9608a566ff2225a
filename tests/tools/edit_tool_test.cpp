// str_replace_based_edit_tool: every command, its error messages, and byte preservation (tabs,
// CRLF, missing final newline, unicode, Latin-1). Files are checked on the host, independently.
#include "tools/edit_tool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "tests/tools/workspace_fixture.h"
#include "tools/registry.h"

using namespace m1::tools;

namespace {

class EditToolTest : public m1::test::WorkspaceTest {
protected:
  void SetUp() override {
    WorkspaceTest::SetUp();
    ASSERT_TRUE(registry.add(std::make_unique<EditTool>()).ok());
  }
  ToolResult edit(const Json & arguments) { return registry.call("str_replace_based_edit_tool", arguments, context); }
  ToolResult view(const std::string & path) { return edit({{"command", "view"}, {"path", path}}); }
  ToolResult replace(const std::string & path, const std::string & old_str, const std::string & new_str) {
    return edit({{"command", "str_replace"}, {"path", path}, {"old_str", old_str}, {"new_str", new_str}});
  }
  ToolResult insert(const std::string & path, int line, const std::string & text) {
    return edit({{"command", "insert"}, {"path", path}, {"insert_line", line}, {"new_str", text}});
  }
  ToolResult undo(const std::string & path) { return edit({{"command", "undo_edit"}, {"path", path}}); }

  ToolRegistry registry;
};

}  // namespace

// --- view ---------------------------------------------------------------------------------------

TEST_F(EditToolTest, ViewPrintsCatDashNStyle) {
  write("a.py", "def f():\n\treturn 1\n");
  ToolResult r = view("a.py");
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(r.text, "Here's the result of running `cat -n` on a.py:\n     1\tdef f():\n     2\t\treturn 1\n");
}

TEST_F(EditToolTest, ViewHidesCrAndShowsALastLineWithoutNewline) {
  write("w.txt", "one\r\ntwo\r\nthree");
  EXPECT_EQ(view(root + "/w.txt").text,
            "Here's the result of running `cat -n` on " + root + "/w.txt:\n     1\tone\n     2\ttwo\n     3\tthree\n");
}

TEST_F(EditToolTest, ViewRange) {
  write("n.txt", "1\n2\n3\n4\n5\n");
  auto ranged = [&](int a, int b) { return edit({{"command", "view"}, {"path", "n.txt"}, {"view_range", {a, b}}}); };
  EXPECT_EQ(ranged(2, 3).text, "Here's the result of running `cat -n` on n.txt:\n     2\t2\n     3\t3\n");
  EXPECT_EQ(ranged(4, -1).text, "Here's the result of running `cat -n` on n.txt:\n     4\t4\n     5\t5\n");
  EXPECT_EQ(ranged(5, 99).text, "Here's the result of running `cat -n` on n.txt:\n     5\t5\n");  // clamped
  ToolResult bad_start = ranged(6, -1);
  EXPECT_TRUE(bad_start.is_error);
  EXPECT_EQ(bad_start.text, "invalid view_range [6, -1]: start must be between 1 and 5, the number of lines in n.txt");
  EXPECT_EQ(ranged(0, 2).text, "invalid view_range [0, 2]: start must be between 1 and 5, the number of lines in n.txt");
  EXPECT_EQ(ranged(3, 2).text,
            "invalid view_range [3, 2]: end must be -1 (to the end of the file) or at least start (3)");
  EXPECT_TRUE(edit({{"command", "view"}, {"path", "n.txt"}, {"view_range", {1}}}).is_error);  // schema
}

TEST_F(EditToolTest, ViewDirectoryListsTwoLevelsWithoutHiddenEntries) {
  write("src/main.cpp", "");
  write("src/deep/deeper/x.h", "");
  write("README", "");
  write(".hidden/file", "");
  write("src/.secret", "");
  ToolResult r = view(".");
  EXPECT_EQ(r.text,
            "Here's the files and directories up to 2 levels deep in ., excluding hidden items:\n"
            "./\n./README\n./src/\n./src/deep/\n./src/main.cpp\n");
  EXPECT_EQ(view("src/").text,
            "Here's the files and directories up to 2 levels deep in src/, excluding hidden items:\n"
            "src/\nsrc/deep/\nsrc/deep/deeper/\nsrc/main.cpp\n");
  ToolResult ranged = edit({{"command", "view"}, {"path", "src"}, {"view_range", {1, 2}}});
  EXPECT_TRUE(ranged.is_error);
  EXPECT_EQ(ranged.text, "view_range is not allowed when src is a directory; view a file instead");
}

TEST_F(EditToolTest, ViewErrors) {
  EXPECT_EQ(view("missing.txt").text, "missing.txt: no such file or directory; check the path");
  write("bin.dat", std::string("abc\0def", 7));
  ToolResult binary = view("bin.dat");
  EXPECT_TRUE(binary.is_error);
  EXPECT_EQ(binary.text, "bin.dat: looks like a binary file (it contains NUL bytes); text tools only handle text");
  write("huge.txt", "");
  ASSERT_EQ(::truncate((root + "/huge.txt").c_str(), 17 << 20), 0);
  EXPECT_EQ(view("huge.txt").text,
            "huge.txt: is 17825792 bytes; text tools handle files up to 16 MiB (use bash with head, tail or sed -n)");
}

TEST_F(EditToolTest, LongOutputIsClippedWithANote) {
  std::string big;
  for (int i = 0; i < 3000; ++i) big += "line number " + std::to_string(i) + " with some text\n";
  write("big.txt", big);
  ToolResult r = view("big.txt");
  EXPECT_FALSE(r.is_error);
  size_t note = r.text.find("<response clipped><NOTE>");
  ASSERT_NE(note, std::string::npos);
  EXPECT_EQ(note, EditTool::kMaxOutputChars);
  EXPECT_NE(r.text.find("view_range"), std::string::npos);
}

TEST_F(EditToolTest, ClippingNeverSplitsAUtf8Character) {
  std::string big;
  for (int i = 0; i < 2000; ++i) big += "αβγδεζηθικλμνξοπρστυφχψω\n";
  write("greek.txt", big);
  ToolResult r = view("greek.txt");
  std::string kept = r.text.substr(0, r.text.find("<response clipped>"));
  // Every kept byte sequence is complete: the last lead byte has all its continuation bytes.
  size_t i = kept.size();
  while (i > 0 && (static_cast<unsigned char>(kept[i - 1]) & 0xC0) == 0x80) --i;
  ASSERT_GT(i, 0u);
  unsigned char lead = static_cast<unsigned char>(kept[i - 1]);
  size_t expected = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  EXPECT_EQ(kept.size() - (i - 1), expected);
}

// --- create -------------------------------------------------------------------------------------

TEST_F(EditToolTest, CreateWritesTheExactTextAndParents) {
  ToolResult r = edit({{"command", "create"}, {"path", "new/dir/f.txt"}, {"file_text", "a\tb\r\nno newline"}});
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(r.text, "File created successfully at: new/dir/f.txt");
  EXPECT_EQ(read("new/dir/f.txt"), "a\tb\r\nno newline");
  EXPECT_EQ(r.metadata["diff"], "--- /dev/null\n+++ b/new/dir/f.txt\n@@ -0,0 +1,2 @@\n+a\tb\r\n+no newline\n"
                                "\\ No newline at end of file\n");
}

TEST_F(EditToolTest, CreateNeverOverwrites) {
  write("f.txt", "keep");
  ToolResult r = edit({{"command", "create"}, {"path", "f.txt"}, {"file_text", "x"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "f.txt: already exists; `create` never overwrites. Use `str_replace` or `insert` to change a file.");
  EXPECT_EQ(read("f.txt"), "keep");
  std::filesystem::create_directories(root + "/d");
  EXPECT_EQ(edit({{"command", "create"}, {"path", "d"}, {"file_text", "x"}}).text,
            "d: is a directory; only `view` can be used on directories");
}

TEST_F(EditToolTest, CreateNeedsFileText) {
  ToolResult r = edit({{"command", "create"}, {"path", "f.txt"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "parameter `file_text` is required for command `create`");
  EXPECT_FALSE(exists("f.txt"));
}

// --- str_replace --------------------------------------------------------------------------------

TEST_F(EditToolTest, StrReplacePreservesEveryOtherByte) {
  std::string before = "\tindent\r\nmid: héllo wörld\r\nlatin1: \xe9\xe8\r\nlast line without newline";
  write("f.txt", before);
  ToolResult r = replace("f.txt", "héllo", "HÉLLO");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("f.txt"), "\tindent\r\nmid: HÉLLO wörld\r\nlatin1: \xe9\xe8\r\nlast line without newline");
  EXPECT_EQ(r.text,
            "The file f.txt has been edited. Here's the result of running `cat -n` on a snippet of f.txt:\n"
            "     1\t\tindent\n     2\tmid: HÉLLO wörld\n     3\tlatin1: \xe9\xe8\n     4\tlast line without newline\n"
            "Review the changes and make sure they are as expected. Edit the file again if necessary.");
  EXPECT_EQ(r.metadata["diff"].get<std::string>(),
            "--- a/f.txt\n+++ b/f.txt\n@@ -1,4 +1,4 @@\n \tindent\r\n-mid: héllo wörld\r\n+mid: HÉLLO wörld\r\n"
            " latin1: \xe9\xe8\r\n last line without newline\n\\ No newline at end of file\n");
}

TEST_F(EditToolTest, StrReplaceInCrlfFileAcceptsLfOldStr) {
  write("w.txt", "a\r\nb\r\nc\r\n");
  ToolResult r = replace("w.txt", "a\nb\n", "x\ny\nz\n");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("w.txt"), "x\r\ny\r\nz\r\nc\r\n");
}

TEST_F(EditToolTest, StrReplaceWithoutNewStrDeletes) {
  write("f.txt", "keep\ndrop\nkeep2\n");
  ToolResult r = edit({{"command", "str_replace"}, {"path", "f.txt"}, {"old_str", "drop\n"}});
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("f.txt"), "keep\nkeep2\n");
}

TEST_F(EditToolTest, StrReplaceNotFound) {
  write("f.txt", "    indented\n");
  ToolResult r = replace("f.txt", "  indented\t", "x");
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "no replacement was performed: old_str did not appear verbatim in f.txt. Copy the text exactly as it "
                    "is in the file, including whitespace and indentation (view the file to check).");
  EXPECT_EQ(read("f.txt"), "    indented\n");
}

TEST_F(EditToolTest, StrReplaceSeveralMatchesNamesTheLines) {
  write("f.txt", "x = 1\ny = 2\nx = 1\n\nx = 1\n");
  ToolResult r = replace("f.txt", "x = 1", "x = 3");
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "no replacement was performed: old_str occurs 3 times in f.txt, at lines 1, 3, 5. Include more "
                    "surrounding lines in old_str so that it occurs exactly once.");
  EXPECT_EQ(read("f.txt"), "x = 1\ny = 2\nx = 1\n\nx = 1\n");
  // Overlapping occurrences count too.
  write("o.txt", "aaa");
  EXPECT_TRUE(replace("o.txt", "aa", "b").is_error);
}

TEST_F(EditToolTest, StrReplaceParameterErrors) {
  write("f.txt", "x\n");
  EXPECT_EQ(edit({{"command", "str_replace"}, {"path", "f.txt"}}).text,
            "parameter `old_str` is required for command `str_replace`");
  EXPECT_EQ(replace("f.txt", "", "y").text, "old_str is empty; give the exact text to replace (use `insert` to add text)");
  EXPECT_EQ(replace("nope.txt", "x", "y").text, "nope.txt: no such file; check the path");
}

// --- insert -------------------------------------------------------------------------------------

TEST_F(EditToolTest, InsertAtTopMiddleAndEnd) {
  write("f.txt", "a\nb\n");
  EXPECT_FALSE(insert("f.txt", 0, "top").is_error);
  EXPECT_EQ(read("f.txt"), "top\na\nb\n");
  EXPECT_FALSE(insert("f.txt", 2, "mid1\nmid2\n").is_error);
  EXPECT_EQ(read("f.txt"), "top\na\nmid1\nmid2\nb\n");
  ToolResult r = insert("f.txt", 5, "end");
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(read("f.txt"), "top\na\nmid1\nmid2\nb\nend\n");
  EXPECT_EQ(r.text,
            "The file f.txt has been edited. Here's the result of running `cat -n` on a snippet of f.txt:\n"
            "     2\ta\n     3\tmid1\n     4\tmid2\n     5\tb\n     6\tend\n"
            "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). "
            "Edit the file again if necessary.");
  EXPECT_EQ(r.metadata["diff"], "--- a/f.txt\n+++ b/f.txt\n@@ -3,3 +3,4 @@\n mid1\n mid2\n b\n+end\n");
}

TEST_F(EditToolTest, InsertNeverGluesToALastLineWithoutNewline) {
  write("f.txt", "a\nlast");
  EXPECT_FALSE(insert("f.txt", 2, "new").is_error);
  EXPECT_EQ(read("f.txt"), "a\nlast\nnew");
}

TEST_F(EditToolTest, InsertUsesTheFilesLineEnding) {
  write("w.txt", "a\r\nb\r\n");
  EXPECT_FALSE(insert("w.txt", 1, "x\ny").is_error);
  EXPECT_EQ(read("w.txt"), "a\r\nx\r\ny\r\nb\r\n");
}

TEST_F(EditToolTest, InsertIntoEmptyFile) {
  write("e.txt", "");
  EXPECT_FALSE(insert("e.txt", 0, "first").is_error);
  EXPECT_EQ(read("e.txt"), "first\n");
}

TEST_F(EditToolTest, InsertErrors) {
  write("f.txt", "a\nb\n");
  EXPECT_EQ(insert("f.txt", 3, "x").text,
            "invalid insert_line 3: f.txt has 2 lines, so insert_line must be between 0 and 2");
  EXPECT_EQ(edit({{"command", "insert"}, {"path", "f.txt"}, {"new_str", "x"}}).text,
            "parameter `insert_line` is required for command `insert`");
  EXPECT_EQ(edit({{"command", "insert"}, {"path", "f.txt"}, {"insert_line", 1}}).text,
            "parameter `new_str` is required for command `insert`");
  EXPECT_EQ(insert("f.txt", -1, "x").text,
            "invalid arguments for tool str_replace_based_edit_tool:\n- arguments.insert_line: must be >= 0, got -1");
  EXPECT_EQ(read("f.txt"), "a\nb\n");
}

// --- undo_edit ----------------------------------------------------------------------------------

TEST_F(EditToolTest, UndoRestoresExactBytesInStackOrder) {
  std::string original = "one\r\ntwo\tthree\r\nno newline";
  write("f.txt", original);
  ASSERT_FALSE(replace("f.txt", "two", "2").is_error);
  ASSERT_FALSE(insert("f.txt", 0, "head").is_error);
  ToolResult r = undo("f.txt");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("f.txt"), "one\r\n2\tthree\r\nno newline");
  EXPECT_EQ(r.text, "Last edit to f.txt undone successfully. Here's the result of running `cat -n` on f.txt:\n"
                    "     1\tone\n     2\t2\tthree\n     3\tno newline\n");
  EXPECT_FALSE(undo("f.txt").is_error);
  EXPECT_EQ(read("f.txt"), original);
  ToolResult none = undo("f.txt");
  EXPECT_TRUE(none.is_error);
  EXPECT_EQ(none.text, "no edit history for f.txt; undo_edit reverts edits made with this tool");
}

TEST_F(EditToolTest, UndoOfCreateRemovesTheFile) {
  ASSERT_FALSE(edit({{"command", "create"}, {"path", "n.txt"}, {"file_text", "x"}}).is_error);
  ToolResult r = undo("n.txt");
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(r.text, "Last edit to n.txt undone successfully. The file did not exist before and was removed.");
  EXPECT_FALSE(exists("n.txt"));
}

TEST_F(EditToolTest, UndoHistoryOutlivesTheToolObject) {
  write("f.txt", "before\n");
  ASSERT_FALSE(replace("f.txt", "before", "after").is_error);
  ToolRegistry fresh;  // as a second `m1 tool call` process would
  ASSERT_TRUE(fresh.add(std::make_unique<EditTool>()).ok());
  ToolResult r = fresh.call("str_replace_based_edit_tool", {{"command", "undo_edit"}, {"path", root + "/f.txt"}}, context);
  EXPECT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(read("f.txt"), "before\n");
}

// --- confinement and concurrency ----------------------------------------------------------------

TEST_F(EditToolTest, PathsOutsideTheWorkspaceAreRefused) {
  write("../outside/secret.txt", "secret\n");
  ToolResult r = view("/etc/passwd");
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "/etc/passwd: is outside the workspace " + root + "; use a path inside it");
  EXPECT_TRUE(view("../outside/secret.txt").is_error);
  symlink(outside, "out");
  ToolResult through_link = view("out/secret.txt");
  EXPECT_TRUE(through_link.is_error);
  EXPECT_EQ(through_link.text,
            "out/secret.txt: resolves outside the workspace (through \"..\" or a symlink); only files inside it can be used");
  EXPECT_TRUE(edit({{"command", "create"}, {"path", "out/new.txt"}, {"file_text", "x"}}).is_error);
  EXPECT_TRUE(replace("out/secret.txt", "secret", "changed").is_error);
  EXPECT_EQ(read_host(outside + "/secret.txt"), "secret\n");
  EXPECT_FALSE(std::filesystem::exists(outside + "/new.txt"));
}

TEST_F(EditToolTest, NonViewCommandsOnADirectoryAreRefused) {
  std::filesystem::create_directories(root + "/d");
  EXPECT_EQ(replace("d", "a", "b").text, "d: is a directory; only `view` can be used on directories");
}

TEST_F(EditToolTest, ConcurrentEditsOfDifferentFiles) {
  for (int t = 0; t < 8; ++t) write("f" + std::to_string(t) + ".txt", "");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      std::string path = "f" + std::to_string(t) + ".txt";
      for (int i = 0; i < 20; ++i)
        if (insert(path, i, "line " + std::to_string(i)).is_error) ++failures;
    });
  for (auto & thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += "line " + std::to_string(i) + "\n";
  for (int t = 0; t < 8; ++t) EXPECT_EQ(read("f" + std::to_string(t) + ".txt"), expected);
}
