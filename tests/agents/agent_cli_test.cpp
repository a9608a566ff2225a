// Black-box tests of `m1 agent` and `m1 run` with the scripted model: the example tasks pass with
// their scripted solutions and fail without them (the checkers decide), the transcript, --json
// events, the summary line, the session store, and the one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "agents/event.h"
#include "tests/agents/temp_dir.h"
#include "tests/common/run_command.h"

namespace m1::agents {
namespace {

namespace fs = std::filesystem;
using test::run_command;

std::string tasks_glob() { return std::string(M1_SOURCE_DIR) + "/examples/tasks/*.json"; }

size_t n_example_tasks() {
  size_t n = 0;
  for (const auto & entry : fs::directory_iterator(std::string(M1_SOURCE_DIR) + "/examples/tasks"))
    n += entry.path().extension() == ".json";
  return n;
}

std::string m1_with_home(const test::TempDir & home) { return "M1_HOME=" + home.path() + " " + M1_BINARY; }

TEST(CliRun, EveryExampleTaskPassesWithItsScriptedSolution) {
  test::TempDir home;
  ASSERT_GE(n_example_tasks(), 10u);
  auto r = run_command(m1_with_home(home) + " run " + tasks_glob() + " --parallel 2 --out " + home.file("r.jsonl"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(std::to_string(n_example_tasks()) + "/" + std::to_string(n_example_tasks()) + " passed"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("task"), std::string::npos);
  EXPECT_NE(r.out.find("tokens in"), std::string::npos);
  std::istringstream lines(test::read_file(home.file("r.jsonl")));
  std::string line;
  size_t records = 0;
  while (std::getline(lines, line)) {
    Json record = Json::parse(line);
    EXPECT_TRUE(record["success"].get<bool>()) << line;
    EXPECT_EQ(record["check_exit"], 0) << line;
    EXPECT_EQ(record["stop_reason"], "answered") << line;
    EXPECT_GE(record["turns"].get<int>(), 2) << line;
    EXPECT_GT(record["tokens_in"].get<int64_t>(), 0) << line;
    ++records;
  }
  EXPECT_EQ(records, n_example_tasks());
  // Every run is a session in the store.
  auto sessions = run_command("sqlite3 " + home.file("sessions.db") + " 'SELECT COUNT(*) FROM sessions'");
  EXPECT_EQ(sessions.out, std::to_string(n_example_tasks()) + "\n");
}

TEST(CliRun, CheckersFailWhenTheAgentDoesNothing) {
  test::TempDir home;
  test::write_file(home.file("give-up.json"), "[\"I give up.\"]");
  auto r = run_command(m1_with_home(home) + " run " + tasks_glob() + " --model script:" + home.file("give-up.json"));
  EXPECT_EQ(r.exit_code, 1);
  std::string n = std::to_string(n_example_tasks());
  EXPECT_NE(r.out.find("0/" + n + " passed"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("m1: run: " + n + " of " + n + " tasks failed"), std::string::npos) << r.err;
}

TEST(CliRun, ABadTaskFileIsOneLineNamingIt) {
  test::TempDir home;
  test::write_file(home.file("t.json"), "{\"prompt\": \"x\"}");
  auto r = run_command(m1_with_home(home) + " run " + home.file("t.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "m1: run: " + home.file("t.json") + ": \"check\": expected a string (it is required)\n");
}

class CliAgent : public ::testing::Test {
protected:
  void SetUp() override {
    test::write_file(workspace.file("sum.py"), "def sum_to(n):\n    return sum(range(1, n))\n");
    Json script = Json::array(
        {"<think>\nLook first.\n</think>\n<tool_calls>\n{\"name\": \"str_replace_based_edit_tool\", \"arguments\": "
         "{\"command\": \"str_replace\", \"path\": \"sum.py\", \"old_str\": \"range(1, n)\", \"new_str\": \"range(1, n + 1)\"}}\n</tool_calls>",
         "<tool_calls>\n{\"name\": \"bash\", \"arguments\": {\"command\": \"python3 -c 'from sum import sum_to; print(sum_to(10))'\"}}\n</tool_calls>",
         "<think>\nIt prints 55.\n</think>\nFixed the range."});
    test::write_file(home.file("script.json"), script.dump());
  }
  std::string agent(const std::string & extra) {
    return m1_with_home(home) + " agent 'Fix sum_to' --model script:" + home.file("script.json") + " --workspace " +
           workspace.path() + " " + extra;
  }
  test::TempDir home, workspace;
};

TEST_F(CliAgent, StreamsTheTranscriptAndEndsWithASummaryLine) {
  auto r = run_command(agent(""));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(test::read_file(workspace.file("sum.py")), "def sum_to(n):\n    return sum(range(1, n + 1))\n");
  EXPECT_NE(r.out.find("user: Fix sum_to\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("thinking: Look first."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  -> str_replace_based_edit_tool {\"command\":\"str_replace\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  -> bash {\"command\":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  <- bash: ok\n    55\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nFixed the range.\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos) << "ANSI codes without a terminal";
  std::regex summary(R"(\nturns 3, tokens in \d+ / out \d+ / reused \d+, [0-9.]+ s: answered \(session [0-9a-f-]+\)\n$)");
  EXPECT_TRUE(std::regex_search(r.out, summary)) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
  auto status = run_command("sqlite3 " + home.file("sessions.db") + " 'SELECT status, workspace FROM sessions'");
  EXPECT_EQ(status.out, "answered|" + fs::canonical(workspace.path()).string() + "\n");
}

TEST_F(CliAgent, JsonPrintsOneEventPerLine) {
  auto r = run_command(agent("--json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::string> kinds;
  Json last;
  while (std::getline(lines, line)) {
    last = Json::parse(line, nullptr, false);
    ASSERT_FALSE(last.is_discarded()) << line;
    kinds.push_back(last["kind"]);
  }
  for (const char * kind : {"message", "usage", "tool_call", "tool_result", "stop", "reasoning_delta", "text_delta"})
    EXPECT_NE(std::find(kinds.begin(), kinds.end(), kind), kinds.end()) << kind;
  EXPECT_EQ(last["kind"], "summary");
  EXPECT_EQ(last["reason"], "answered");
  EXPECT_EQ(last["answer"], "Fixed the range.");
  EXPECT_EQ(last["turns"], 3);
}

TEST_F(CliAgent, StopsWithAReasonWhenTheScriptRunsOut) {
  test::write_file(home.file("short.json"), "[\"<tool_calls>\\n{\\\"name\\\": \\\"bash\\\", \\\"arguments\\\": {\\\"command\\\": \\\"true\\\"}}\\n</tool_calls>\"]");
  auto r = run_command(m1_with_home(home) + " agent 'x' --model script:" + home.file("short.json") + " --workspace " +
                       workspace.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find(": model_error"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.rfind("m1: agent: stopped (model_error): ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("no output left for model call 2"), std::string::npos) << r.err;
}

TEST_F(CliAgent, BadArgumentsAreOneLineErrors) {
  auto missing = run_command(m1_with_home(home) + " agent x --model script:/nonexistent.json --workspace " + workspace.path());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "m1: agent: /nonexistent.json: cannot read the script\n");
  auto no_dir = run_command(m1_with_home(home) + " agent x --model script:" + home.file("script.json") + " --workspace /nonexistent");
  EXPECT_EQ(no_dir.exit_code, 1);
  EXPECT_EQ(no_dir.err, "m1: agent: /nonexistent: the workspace is not a directory\n");
}

TEST_F(CliAgent, TheWorkspaceDefaultsToTheCurrentDirectory) {
  auto r = run_command("cd " + workspace.path() + " && " + m1_with_home(home) + " agent 'Fix sum_to' --model script:" +
                       home.file("script.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(workspace.file("sum.py")), "def sum_to(n):\n    return sum(range(1, n + 1))\n");
}

}  // namespace
}  // namespace m1::agents
