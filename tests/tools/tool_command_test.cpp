// Black-box tests of `m1 tool call NAME --workspace DIR --args JSON` (DESIGN.md).
#include <gtest/gtest.h>

#include "tests/common/run_command.h"
#include "tests/tools/workspace_fixture.h"

using m1::test::run_command;
using m1::tools::Json;

namespace {

class ToolCommand : public m1::test::WorkspaceTest {
protected:
  m1::test::CommandResult call(const std::string & name, const std::string & arguments) {
    std::string quoted = "'";
    for (char c : arguments) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    quoted += "'";
    return run_command(std::string(M1_BINARY) + " tool call " + name + " --workspace " + root + " --args " + quoted);
  }
};

}  // namespace

TEST_F(ToolCommand, PrintsTheResultAsJson) {
  write("a.txt", "hello\n");
  auto r = call("str_replace_based_edit_tool", R"({"command": "str_replace", "path": "a.txt", "old_str": "hello", "new_str": "bye"})");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json out = Json::parse(r.out);
  EXPECT_EQ(out["tool"], "str_replace_based_edit_tool");
  EXPECT_EQ(out["is_error"], false);
  EXPECT_EQ(out["metadata"]["diff"], "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-hello\n+bye\n");
  EXPECT_EQ(read("a.txt"), "bye\n");
  EXPECT_TRUE(r.err.empty());
}

TEST_F(ToolCommand, UndoWorksAcrossInvocations) {
  write("a.txt", "one\n");
  ASSERT_EQ(call("str_replace_based_edit_tool", R"({"command": "insert", "path": "a.txt", "insert_line": 1, "new_str": "two"})").exit_code, 0);
  EXPECT_EQ(read("a.txt"), "one\ntwo\n");
  ASSERT_EQ(call("str_replace_based_edit_tool", R"({"command": "undo_edit", "path": "a.txt"})").exit_code, 0);
  EXPECT_EQ(read("a.txt"), "one\n");
}

TEST_F(ToolCommand, AnErrorResultIsPrintedAndExitsOne) {
  auto r = call("no_such_tool", "{}");
  EXPECT_EQ(r.exit_code, 1);
  Json out = Json::parse(r.out);
  EXPECT_EQ(out["is_error"], true);
  EXPECT_EQ(out["text"].get<std::string>().rfind("unknown tool \"no_such_tool\"; available tools: ", 0), 0u);
  auto invalid = call("search", R"({"pattern": 3})");
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_EQ(Json::parse(invalid.out)["text"], "invalid arguments for tool search:\n- arguments.pattern: expected string, got number 3");
}

TEST_F(ToolCommand, NonUtf8FileContentStillGivesValidJson) {
  write("latin1.txt", "caf\xe9\n");
  auto r = call("str_replace_based_edit_tool", R"({"command": "view", "path": "latin1.txt"})");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(Json::parse(r.out)["text"].get<std::string>().find("caf\xef\xbf\xbd"), std::string::npos);  // U+FFFD
}

TEST_F(ToolCommand, BadCommandLinesFailWithOneLine) {
  auto bad_json = call("search", "{nope");
  EXPECT_EQ(bad_json.exit_code, 1);
  EXPECT_EQ(bad_json.err.rfind("m1: tool call: --args is not valid JSON: ", 0), 0u) << bad_json.err;
  EXPECT_TRUE(bad_json.out.empty());
  auto no_workspace = run_command(std::string(M1_BINARY) + " tool call search --workspace " + root + "/missing --args '{}'");
  EXPECT_EQ(no_workspace.exit_code, 1);
  EXPECT_EQ(no_workspace.err, "m1: tool call: --workspace " + root + "/missing: no such directory\n");
  auto missing_args = run_command(std::string(M1_BINARY) + " tool call search --workspace " + root);
  EXPECT_EQ(missing_args.exit_code, 2);
  EXPECT_EQ(std::count(missing_args.err.begin(), missing_args.err.end(), '\n'), 1) << missing_args.err;
  EXPECT_NE(missing_args.err.find("--args"), std::string::npos);
}
