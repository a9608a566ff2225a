// search: output format, context, globs, .gitignore, caps and errors; globs and .gitignore rules
// on their own.
#include "tools/search_tool.h"

#include <gtest/gtest.h>

#include "tests/tools/workspace_fixture.h"
#include "tools/gitignore.h"
#include "tools/glob_pattern.h"
#include "tools/registry.h"

using namespace m1::tools;

TEST(GlobMatch, SegmentsStarsClassesAndBraces) {
  EXPECT_TRUE(glob_match("*.cpp", "a.cpp"));
  EXPECT_FALSE(glob_match("*.cpp", "src/a.cpp"));  // * stays within a segment
  EXPECT_TRUE(glob_match("src/*.cpp", "src/a.cpp"));
  EXPECT_TRUE(glob_match("**/*.cpp", "a.cpp"));
  EXPECT_TRUE(glob_match("**/*.cpp", "x/y/a.cpp"));
  EXPECT_TRUE(glob_match("src/**", "src/x/y"));
  EXPECT_TRUE(glob_match("src/**/t.h", "src/t.h"));
  EXPECT_TRUE(glob_match("src/**/t.h", "src/a/b/t.h"));
  EXPECT_FALSE(glob_match("src/**/t.h", "lib/t.h"));
  EXPECT_TRUE(glob_match("?.h", "a.h"));
  EXPECT_FALSE(glob_match("?.h", "ab.h"));
  EXPECT_TRUE(glob_match("[a-c]x", "bx"));
  EXPECT_FALSE(glob_match("[!a-c]x", "bx"));
  EXPECT_TRUE(glob_match("*.{h,cpp}", "a.h"));
  EXPECT_TRUE(glob_match("*.{h,cpp}", "a.cpp"));
  EXPECT_FALSE(glob_match("*.{h,cpp}", "a.c"));
  EXPECT_TRUE(glob_match("\\*", "*"));
  EXPECT_FALSE(glob_match("\\*", "a"));
}

TEST(GlobMatch, SplitsListsOutsideBraces) {
  EXPECT_EQ(split_glob_list(" *.h, src/**/*.{cpp,cc} ,"), (std::vector<std::string>{"*.h", "src/**/*.{cpp,cc}"}));
  EXPECT_TRUE(split_glob_list("").empty());
}

TEST(Gitignore, RulesAsGitAppliesThem) {
  GitignoreRules rules(".", "# comment\n\n*.log\n!keep.log\nbuild/\n/top.txt\ndocs/*.md\nescaped\\ \n");
  EXPECT_EQ(rules.decide("a.log", false), true);
  EXPECT_EQ(rules.decide("deep/a.log", false), true);
  EXPECT_EQ(rules.decide("keep.log", false), false);  // re-included
  EXPECT_EQ(rules.decide("build", true), true);
  EXPECT_EQ(rules.decide("build", false), std::nullopt);  // "build/" matches directories only
  EXPECT_EQ(rules.decide("top.txt", false), true);
  EXPECT_EQ(rules.decide("sub/top.txt", false), std::nullopt);  // anchored to the root
  EXPECT_EQ(rules.decide("docs/a.md", false), true);
  EXPECT_EQ(rules.decide("other/docs/a.md", false), std::nullopt);
  EXPECT_EQ(rules.decide("escaped ", false), true);
  EXPECT_EQ(rules.decide("README", false), std::nullopt);
}

TEST(Gitignore, DeeperFilesDecideFirst) {
  std::vector<GitignoreRules> stack;
  stack.emplace_back(".", "*.txt\n");
  stack.emplace_back("sub", "!*.txt\n");
  EXPECT_TRUE(is_ignored(stack, "a.txt", false));
  EXPECT_FALSE(is_ignored(stack, "sub/a.txt", false));
  EXPECT_FALSE(is_ignored(stack, "a.md", false));
}

namespace {

class SearchToolTest : public m1::test::WorkspaceTest {
protected:
  void SetUp() override {
    WorkspaceTest::SetUp();
    ASSERT_TRUE(registry.add(std::make_unique<SearchTool>()).ok());
  }
  ToolResult search(Json arguments) { return registry.call("search", arguments, context); }
  ToolRegistry registry;
};

}  // namespace

TEST_F(SearchToolTest, ListsMatchingLinesWithPathAndLineNumber) {
  write("src/a.cpp", "int main() {\n  return foo();\n}\n");
  write("src/b.h", "int foo();\n");
  write("README.md", "nothing here\n");
  ToolResult r = search({{"pattern", "foo\\(\\)"}});
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(r.text, "2 matching lines in 2 files:\nsrc/a.cpp:2:  return foo();\nsrc/b.h:1:int foo();\n");
  EXPECT_EQ(r.metadata["matches"], 2);
  EXPECT_EQ(r.metadata["files_searched"], 3);
}

TEST_F(SearchToolTest, ContextLinesAndGroupSeparators) {
  write("f.txt", "1\n2\nhit a\n4\n5\n6\n7\nhit b\nhit c\n10\n");
  ToolResult r = search({{"pattern", "^hit"}, {"context", 1}});
  EXPECT_EQ(r.text,
            "3 matching lines in 1 file:\nf.txt-2-2\nf.txt:3:hit a\nf.txt-4-4\n--\nf.txt-7-7\nf.txt:8:hit b\n"
            "f.txt:9:hit c\nf.txt-10-10\n");
}

TEST_F(SearchToolTest, IncludeAndExcludeGlobs) {
  write("a.py", "needle\n");
  write("b.js", "needle\n");
  write("src/c.py", "needle\n");
  write("vendor/d.py", "needle\n");
  EXPECT_EQ(search({{"pattern", "needle"}, {"include", "*.py"}, {"exclude", "vendor"}}).text,
            "2 matching lines in 2 files:\na.py:1:needle\nsrc/c.py:1:needle\n");
  EXPECT_EQ(search({{"pattern", "needle"}, {"include", "src/**/*.{py,js}, b.js"}}).text,
            "2 matching lines in 2 files:\nb.js:1:needle\nsrc/c.py:1:needle\n");
}

TEST_F(SearchToolTest, GitignoreAndDotGitAreRespected) {
  write(".gitignore", "build/\n*.log\n!important.log\n");
  write("build/out.txt", "needle\n");
  write("x.log", "needle\n");
  write("important.log", "needle\n");
  write(".git/config", "needle\n");
  write("sub/.gitignore", "secret.txt\n");
  write("sub/secret.txt", "needle\n");
  write("sub/open.txt", "needle\n");
  write(".env", "needle\n");
  EXPECT_EQ(search({{"pattern", "needle"}}).text,
            "3 matching lines in 3 files:\n.env:1:needle\nimportant.log:1:needle\nsub/open.txt:1:needle\n");
  // Searching below an ignoring folder still applies the outer .gitignore.
  write("sub/deeper/x.log", "needle\n");
  EXPECT_EQ(search({{"pattern", "needle"}, {"path", "sub/deeper"}}).text,
            "No matches for /needle/ in sub/deeper (0 files searched).\n");
  // A file named explicitly is searched even if ignored.
  EXPECT_EQ(search({{"pattern", "needle"}, {"path", "x.log"}}).text, "1 matching line in 1 file:\nx.log:1:needle\n");
}

TEST_F(SearchToolTest, CaseInsensitiveAndUnicode) {
  write("u.txt", "Grüße\nGRÜSSE\ngrüße\n");
  EXPECT_EQ(search({{"pattern", "grüße"}}).text, "1 matching line in 1 file:\nu.txt:3:grüße\n");
  EXPECT_EQ(search({{"pattern", "grüße"}, {"case_insensitive", true}}).text,
            "2 matching lines in 1 file:\nu.txt:1:Grüße\nu.txt:3:grüße\n");
  EXPECT_EQ(search({{"pattern", "Gr.ße"}}).text, "1 matching line in 1 file:\nu.txt:1:Grüße\n");  // . = one code point
}

TEST_F(SearchToolTest, CrlfLinesAnchorAndPrintWithoutCr) {
  write("w.txt", "alpha\r\nbeta\r\n");
  EXPECT_EQ(search({{"pattern", "ha$"}}).text, "1 matching line in 1 file:\nw.txt:1:alpha\n");
}

TEST_F(SearchToolTest, MaxResultsCapsAndSaysSo) {
  std::string many;
  for (int i = 0; i < 50; ++i) many += "match " + std::to_string(i) + "\n";
  write("a.txt", many);
  write("b.txt", many);
  ToolResult r = search({{"pattern", "match"}, {"max_results", 3}});
  EXPECT_EQ(r.text,
            "3 matching lines in 1 file:\na.txt:1:match 0\na.txt:2:match 1\na.txt:3:match 2\n"
            "[stopped at max_results = 3; there may be more matches: narrow the pattern, path or include, or raise "
            "max_results]\n");
  EXPECT_EQ(r.metadata["truncated"], true);
  ToolResult default_cap = search({{"pattern", "match"}});
  EXPECT_EQ(default_cap.metadata["matches"], SearchTool::kDefaultMaxResults);
}

TEST_F(SearchToolTest, LongLinesAndLargeListingsAreClipped) {
  write("long.txt", std::string(1000, 'x') + "needle\n");
  std::string text = search({{"pattern", "needle"}}).text;
  EXPECT_NE(text.find("x [... 606 more bytes]"), std::string::npos) << text;
  std::string many;
  for (int i = 0; i < 2000; ++i) many += std::string(300, 'y') + " needle\n";
  write("many.txt", many);
  ToolResult r = search({{"pattern", "needle"}, {"path", "many.txt"}, {"max_results", 2000}});
  EXPECT_LT(r.text.size(), SearchTool::kMaxOutputBytes + 1000);
  EXPECT_NE(r.text.find("[stopped: the listing reached"), std::string::npos);
}

TEST_F(SearchToolTest, BinaryFilesAndSymlinksAreSkipped) {
  write("bin.dat", std::string("needle\0", 7));
  write("../outside/o.txt", "needle\n");
  symlink(outside, "out");
  symlink("real.txt", "alias.txt");
  write("real.txt", "needle\n");
  EXPECT_EQ(search({{"pattern", "needle"}}).text, "1 matching line in 1 file:\nreal.txt:1:needle\n");
}

TEST_F(SearchToolTest, Errors) {
  ToolResult bad = search({{"pattern", "a(b"}});
  EXPECT_TRUE(bad.is_error);
  EXPECT_EQ(bad.text, "invalid regular expression at offset 3: missing closing parenthesis");
  EXPECT_EQ(search({{"pattern", "x"}, {"path", "missing"}}).text, "missing: no such file or directory; check the path");
  EXPECT_EQ(search({{"pattern", "x"}, {"path", "/etc"}}).text, "/etc: is outside the workspace " + root + "; use a path inside it");
  symlink(outside, "out");
  EXPECT_TRUE(search({{"pattern", "x"}, {"path", "out"}}).is_error);
  EXPECT_EQ(search({{"pattern", "x"}, {"context", 21}}).text,
            "invalid arguments for tool search:\n- arguments.context: must be <= 20, got 21");
}

TEST_F(SearchToolTest, NoMatchesIsNotAnError) {
  write("a.txt", "abc\n");
  ToolResult r = search({{"pattern", "zzz"}});
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(r.text, "No matches for /zzz/ in . (1 files searched).\n");
}

TEST_F(SearchToolTest, CancelStopsTheWalk) {
  for (int i = 0; i < 20; ++i) write("f" + std::to_string(i) + ".txt", "needle\n");
  std::atomic<bool> cancel{false};
  context.cancel = &cancel;
  cancel = true;
  EXPECT_EQ(search({{"pattern", "needle"}}).text, "tool search was cancelled before it started");
  // Set while the tool runs (here: before it reaches the first file), it stops the walk.
  SearchTool tool;
  ToolResult r = tool.call({{"pattern", "needle"}}, context);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "search cancelled");
}
