// bash and python, black-box through the sandbox: output and status lines, merged stream order,
// truncation with the full output on disk, timeouts, cancellation, the persistent shell's state,
// sessions and concurrent calls. Needs user namespaces (the sandbox); without them each test is
// skipped with the reason.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "sandbox/isolation_probe.h"
#include "tests/tools/workspace_fixture.h"
#include "tools/bash_tool.h"
#include "tools/output_truncation.h"
#include "tools/python_tool.h"
#include "tools/registry.h"

using namespace m1::tools;

namespace {

class CommandToolTest : public m1::test::WorkspaceTest {
protected:
  void SetUp() override {
    m1::sandbox::ProbeResult userns = m1::sandbox::probe_user_namespaces();
    if (!userns.usable) GTEST_SKIP() << "the sandbox needs user namespaces: " << userns.reason;
    WorkspaceTest::SetUp();
    ASSERT_TRUE(registry.add(std::make_unique<BashTool>(false)).ok());
    ASSERT_TRUE(registry.add(std::make_unique<PythonTool>()).ok());
    auto shell = std::make_unique<BashTool>(true);
    shell_tool = shell.get();
    persistent.add(std::move(shell));
    context.session_id = "s1";
  }
  ToolResult bash(Json arguments) { return registry.call("bash", arguments, context); }
  ToolResult shell(Json arguments) { return persistent.call("bash", arguments, context); }
  ToolResult python(const std::string & code) { return registry.call("python", {{"code", code}}, context); }

  ToolRegistry registry, persistent;
  BashTool * shell_tool = nullptr;
};

std::string numbers(int n) {
  std::string text;
  for (int i = 1; i <= n; ++i) text += std::to_string(i) + "\n";
  return text;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST(OutputCollector, MatchesTruncationOfTheWholeStream) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "line " + std::to_string(i * 7919 % 10007) + (i % 13 ? "\n" : " ");
  TruncationLimits limits{2000, 40};
  for (size_t chunk : {1ul, 7ul, 333ul, 100000ul}) {
    OutputCollector collector(4096);  // far smaller than the text: the middle is dropped on the way
    for (size_t at = 0; at < text.size(); at += chunk) collector.append(std::string_view(text).substr(at, chunk));
    TruncatedOutput expected = truncate_head_tail(text, limits, "/f"), got = collector.finish(limits, "/f");
    EXPECT_EQ(got.text, expected.text) << "chunk " << chunk;
    EXPECT_EQ(got.dropped_bytes, expected.dropped_bytes);
    EXPECT_EQ(got.dropped_lines, expected.dropped_lines);
  }
}

TEST_F(CommandToolTest, BashReportsOutputAndExitCode) {
  ToolResult r = bash({{"command", "echo hi; echo err >&2; exit 3"}});
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(r.text, "hi\nerr\n[exit code 3]");
  EXPECT_EQ(r.metadata["exit_code"], 3);
  EXPECT_EQ(bash({{"command", "true"}}).text, "(no output)\n[exit code 0]");
  EXPECT_EQ(bash({{"command", "printf 'no newline'"}}).text, "no newline\n[exit code 0]");
  EXPECT_EQ(bash({{"command", "echo 'héllo 🙂'"}}).text, "héllo 🙂\n[exit code 0]");
}

TEST_F(CommandToolTest, StdoutAndStderrKeepTheirOrder) {
  EXPECT_EQ(bash({{"command", "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c"}}).text, "a\nb\nc\n[exit code 0]");
}

TEST_F(CommandToolTest, RunsInTheWorkspaceWhichIsWritable) {
  ToolResult r = bash({{"command", "pwd; echo data > made.txt; touch /etc/m1-tools-test 2>/dev/null || echo refused"}});
  EXPECT_EQ(r.text, root + "\nrefused\n[exit code 0]");
  EXPECT_EQ(read("made.txt"), "data\n");
}

TEST_F(CommandToolTest, LargeOutputIsTruncatedAndKeptInFull) {
  ToolResult r = bash({{"command", "seq 1 100000"}});
  EXPECT_FALSE(r.is_error);
  ASSERT_TRUE(r.metadata.contains("output_file"));
  std::string path = r.metadata["output_file"];
  EXPECT_EQ(path.rfind(root + "/.m1/scratch/bash-", 0), 0u) << path;
  std::string full = numbers(100000);
  EXPECT_EQ(read_host(path), full);
  EXPECT_EQ(r.text, truncate_head_tail(full, TruncationLimits{}, path).text + "[exit code 0]");
  EXPECT_NE(r.text.find("lines ("), std::string::npos);
  EXPECT_EQ(r.metadata["output_bytes"], full.size());
}

TEST_F(CommandToolTest, SmallOutputLeavesNoFileBehind) {
  bash({{"command", "echo small"}});
  EXPECT_TRUE(!std::filesystem::exists(root + "/.m1/scratch") || std::filesystem::is_empty(root + "/.m1/scratch"));
}

TEST_F(CommandToolTest, TimeoutKillsTheCommand) {
  auto start = std::chrono::steady_clock::now();
  ToolResult r = bash({{"command", "echo started; sleep 30"}, {"timeout", 1}});
  EXPECT_LT(seconds_since(start), 10);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.text, "started\n[timed out after 1 s; the command was killed. Run long jobs in the background (cmd > log "
                    "2>&1 &) or raise timeout (at most 600)]");
  EXPECT_EQ(bash({{"command", "true"}, {"timeout", 601}}).text,
            "invalid arguments for tool bash:\n- arguments.timeout: must be <= 600, got 601");
}

TEST_F(CommandToolTest, CancellationStopsARunningCommand) {
  std::atomic<bool> cancel{false};
  context.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  auto start = std::chrono::steady_clock::now();
  ToolResult one_shot = bash({{"command", "sleep 30"}});
  canceller.join();
  EXPECT_LT(seconds_since(start), 10);
  EXPECT_TRUE(one_shot.is_error);
  EXPECT_NE(one_shot.text.find("[cancelled; the command was killed]"), std::string::npos) << one_shot.text;

  cancel = false;
  std::thread canceller2([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    cancel = true;
  });
  start = std::chrono::steady_clock::now();
  ToolResult in_shell = shell({{"command", "sleep 30"}});
  canceller2.join();
  EXPECT_LT(seconds_since(start), 10);
  EXPECT_TRUE(in_shell.is_error);
  EXPECT_NE(in_shell.text.find("[cancelled; the command was killed]"), std::string::npos) << in_shell.text;
}

TEST_F(CommandToolTest, ArgumentErrors) {
  EXPECT_EQ(bash(Json::object()).text, "parameter `command` is required (or `restart: true` to start a fresh shell)");
  EXPECT_EQ(bash({{"restart", true}}).text, "Each call runs in a fresh shell; there is nothing to restart.");
  ToolResult long_command = bash({{"command", std::string(BashTool::kMaxCommandBytes + 1, ' ')}});
  EXPECT_TRUE(long_command.is_error);
  EXPECT_EQ(long_command.text.rfind("the command is 102401 bytes, more than 102400", 0), 0u);
}

TEST_F(CommandToolTest, PersistentShellKeepsCwdAndEnvironment) {
  std::filesystem::create_directories(root + "/sub");
  EXPECT_EQ(shell({{"command", "cd sub && export GREETING=hello"}}).text, "(no output)\n[exit code 0]");
  EXPECT_EQ(shell({{"command", "pwd; echo $GREETING"}}).text, root + "/sub\nhello\n[exit code 0]");
  EXPECT_EQ(shell({{"command", "false"}}).text, "(no output)\n[exit code 1]");
  // A syntax error is a failed command, not a broken shell.
  ToolResult syntax = shell({{"command", "if then fi ("}});
  EXPECT_NE(syntax.text.find("syntax error"), std::string::npos) << syntax.text;
  EXPECT_EQ(shell({{"command", "echo $GREETING"}}).text, "hello\n[exit code 0]");
  // Commands read an empty stdin: `cat` returns at once instead of eating the next command.
  EXPECT_EQ(shell({{"command", "cat; echo after"}}).text, "after\n[exit code 0]");
  EXPECT_EQ(shell({{"restart", true}}).text, "The shell was restarted (a fresh cwd and environment).");
  EXPECT_EQ(shell({{"command", "pwd; echo \"[$GREETING]\""}}).text, root + "\n[]\n[exit code 0]");
}

TEST_F(CommandToolTest, PersistentShellSurvivesExitAndTimeout) {
  ToolResult exited = shell({{"command", "echo bye; exit 4"}});
  EXPECT_EQ(exited.text, "bye\n[exit code -1]\n[the shell exited; the next call starts a new one (cwd and environment are reset)]");
  EXPECT_EQ(shell({{"command", "echo back"}}).text, "back\n[exit code 0]");
  ToolResult slow = shell({{"command", "export X=1; echo partial; sleep 30"}, {"timeout", 1}});
  EXPECT_TRUE(slow.is_error);
  EXPECT_EQ(slow.text.rfind("partial\n[timed out after 1 s", 0), 0u) << slow.text;
  EXPECT_EQ(shell({{"command", "echo \"[$X]\""}}).text, "[]\n[exit code 0]");
}

TEST_F(CommandToolTest, PersistentShellTruncatesLikeOneShot) {
  ToolResult r = shell({{"command", "seq 1 50000"}});
  ASSERT_TRUE(r.metadata.contains("output_file")) << r.text.substr(0, 200);
  std::string path = r.metadata["output_file"];
  EXPECT_EQ(read_host(path), numbers(50000));
  EXPECT_EQ(r.text, truncate_head_tail(numbers(50000), TruncationLimits{}, path).text + "[exit code 0]");
}

TEST_F(CommandToolTest, SessionsHaveSeparateShells) {
  shell({{"command", "export WHO=first"}});
  context.session_id = "s2";
  EXPECT_EQ(shell({{"command", "echo \"[$WHO]\""}}).text, "[]\n[exit code 0]");
  context.session_id = "s1";
  EXPECT_EQ(shell({{"command", "echo \"[$WHO]\""}}).text, "[first]\n[exit code 0]");
  persistent.end_session("s1");
  EXPECT_EQ(shell({{"command", "echo \"[$WHO]\""}}).text, "[]\n[exit code 0]");
}

TEST_F(CommandToolTest, ConcurrentCalls) {
  std::vector<std::thread> threads;
  std::atomic<int> correct{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::string name = "t" + std::to_string(t);
      ToolContext own = context;
      own.session_id = name;
      ToolResult a = registry.call("bash", {{"command", "echo " + name + " > " + name + ".txt; cat " + name + ".txt"}}, own);
      ToolResult b = persistent.call("bash", {{"command", "echo " + name}}, own);
      if (a.text == name + "\n[exit code 0]" && b.text == name + "\n[exit code 0]") ++correct;
    });
  for (auto & thread : threads) thread.join();
  EXPECT_EQ(correct, 4);
}

TEST_F(CommandToolTest, PythonRunsCode) {
  EXPECT_EQ(python("print('hi')\nprint(6 * 7)").text, "hi\n42\n[exit code 0]");
  ToolResult failing = python("x = 1\nraise ValueError('bad value')");
  EXPECT_FALSE(failing.is_error);
  EXPECT_NE(failing.text.find("File \"<stdin>\", line 2"), std::string::npos) << failing.text;
  EXPECT_NE(failing.text.find("ValueError: bad value\n[exit code 1]"), std::string::npos) << failing.text;
  EXPECT_EQ(python("open('out.txt', 'w').write('ü')\nimport os\nprint(os.getcwd())").text, root + "\n[exit code 0]");
  EXPECT_EQ(read("out.txt"), "ü");
  EXPECT_EQ(python("import sys\nprint(sys.stdin.read() == '')").text, "True\n[exit code 0]");
}

TEST_F(CommandToolTest, PythonTimeoutAndLargeOutput) {
  ToolResult slow = registry.call("python", {{"code", "import time\nprint('x', flush=True)\ntime.sleep(30)"}, {"timeout", 1}}, context);
  EXPECT_TRUE(slow.is_error);
  EXPECT_EQ(slow.text.rfind("x\n[timed out after 1 s", 0), 0u) << slow.text;
  ToolResult big = python("for i in range(1, 30001): print(i)");
  ASSERT_TRUE(big.metadata.contains("output_file"));
  EXPECT_EQ(read_host(big.metadata["output_file"]), numbers(30000));
  EXPECT_EQ(registry.call("python", Json::object(), context).text,
            "invalid arguments for tool python:\n- arguments.code: required property is missing");
}
