// The agent loop against the scripted model and fake tools: whole-transcript assertions, format
// errors, repeated failures, budgets, both cancellation levels, approval, and the prefill counters.
#include "agents/agent_loop.h"

#include <gtest/gtest.h>

#include <thread>

#include "agents/scripted_model.h"
#include "agents/turn_format.h"
#include "tests/agents/fake_tools.h"

namespace m1::agents {
namespace {

using test::call_output;
using test::FakeTools;

struct Recorder : LoopObserver {
  std::vector<Event> events;
  std::string reasoning, text;
  std::function<void(const OutputDelta &)> on_delta;
  void on_event(const Event & event) override { events.push_back(event); }
  void on_output(const OutputDelta & delta) override {
    (delta.kind == OutputDelta::Kind::reasoning ? reasoning : text) += delta.text;
    if (on_delta) on_delta(delta);
  }
  std::vector<std::string> kinds() const {
    std::vector<std::string> k;
    for (const Event & e : events) k.push_back(e.kind);
    return k;
  }
};

struct Harness {
  FakeTools tools;
  EventLog log;
  Recorder recorder;
  Conversation conversation;
  std::unique_ptr<ScriptedModel> model;

  explicit Harness(std::vector<std::string> outputs, ScriptedModelOptions options = {}) {
    model = std::make_unique<ScriptedModel>(std::move(outputs), "script:test", options);
    init();
  }
  explicit Harness(ScriptedModel::Script script, ScriptedModelOptions options = {}) {
    model = std::make_unique<ScriptedModel>(std::move(script), "script:test", options);
    init();
  }
  void init() {
    log.add_observer(&recorder);
    conversation = Conversation(tools.prompt_tools());
    conversation.append(Message::system_message("You are a test agent."));
    conversation.append(Message::user_message("Do the task."));
  }
  LoopResult run(LoopOptions options = {}) {
    AgentLoop loop(*model, tools, log, options);
    return loop.run(conversation);
  }
};

TEST(AgentLoop, RunsCallsThenStopsAtTheAnswerWithAFullTranscript) {
  Harness h({call_output("echo", {{"text", "hello"}}, "I should echo."), "<think>\nDone.\n</think>\nThe answer is hello."});
  LoopResult result = h.run();
  EXPECT_EQ(result.reason, StopReason::answered) << result.detail;
  EXPECT_EQ(result.answer, "The answer is hello.");
  EXPECT_EQ(result.turns, 2);
  EXPECT_EQ(h.recorder.kinds(), (std::vector<std::string>{"usage", "message", "tool_call", "tool_result", "usage",
                                                           "message", "stop"}));
  const auto & e = h.recorder.events;
  EXPECT_EQ(e[1].payload["reasoning"], "I should echo.");
  EXPECT_EQ(e[1].payload["tool_calls"][0]["name"], "echo");
  EXPECT_EQ(e[2].payload["arguments"]["text"], "hello");
  EXPECT_EQ(e[3].payload["text"], "hello");
  EXPECT_EQ(e[3].payload["is_error"], false);
  EXPECT_EQ(e[6].payload["reason"], "answered");
  EXPECT_EQ(e[6].payload["answer"], "The answer is hello.");
  // Streamed pieces are the output's text between the tags, newlines next to the tags trimmed.
  EXPECT_EQ(h.recorder.reasoning, "I should echo.Done.");
  EXPECT_EQ(h.recorder.text, "The answer is hello.");

  const auto & m = h.conversation.messages();
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[2].role, Role::assistant);
  EXPECT_EQ(m[3].role, Role::tool);
  ASSERT_EQ(m[3].results.size(), 1u);
  EXPECT_EQ(m[3].results[0].name, "echo");
  EXPECT_EQ(m[3].results[0].text, "hello");
  EXPECT_EQ(m[4].text, "The answer is hello.");
  ASSERT_EQ(h.tools.ran.size(), 1u);
}

TEST(AgentLoop, MalformedAndInvalidCallsGoBackAsToolErrors) {
  std::string two_bad = "<tool_calls>\n{\"name\": \"echo\", \"arguments\": {\"text\": 5}}\nnot json\n</tool_calls>";
  Harness h({two_bad, call_output("echo", {{"text", "fixed"}}), "ok"});
  LoopResult result = h.run();
  ASSERT_EQ(result.reason, StopReason::answered) << result.detail;
  const Message & errors = h.conversation.messages()[3];
  ASSERT_EQ(errors.results.size(), 2u);
  EXPECT_EQ(errors.results[0].name, "echo");
  EXPECT_TRUE(errors.results[0].is_error);
  EXPECT_NE(errors.results[0].text.find("arguments.text: expected string"), std::string::npos) << errors.results[0].text;
  EXPECT_EQ(errors.results[1].name, "tool_calls");
  EXPECT_NE(errors.results[1].text.find("format error"), std::string::npos);
  EXPECT_NE(errors.results[1].text.find("not json"), std::string::npos);
  ASSERT_EQ(h.tools.ran.size(), 1u);  // only the fixed call ran
  EXPECT_EQ(h.tools.ran[0].arguments["text"], "fixed");
}

TEST(AgentLoop, ThreeConsecutiveFormatErrorsStop) {
  Harness h({"<tool_calls>\n{broken\n</tool_calls>", call_output("nope", Json::object()),
             "<tool_calls>\n{\"name\": \"echo\"}\n</tool_calls>", "never reached"});
  LoopResult result = h.run();
  EXPECT_EQ(result.reason, StopReason::format_errors);
  EXPECT_EQ(result.turns, 3);
  EXPECT_NE(result.detail.find("3 consecutive"), std::string::npos) << result.detail;
  EXPECT_EQ(h.recorder.events.back().payload["reason"], "format_errors");
}

TEST(AgentLoop, AFormatErrorStreakIsResetByAGoodTurn) {
  Harness h({"<tool_calls>\n{broken\n</tool_calls>", "<tool_calls>\n{broken\n</tool_calls>",
             call_output("echo", {{"text", "a"}}), "<tool_calls>\n{broken\n</tool_calls>", "done"});
  EXPECT_EQ(h.run().reason, StopReason::answered);
}

TEST(AgentLoop, TheSameFailingCallThreeTimesStops) {
  std::string fail_x = call_output("fail", {{"why", "x"}});
  Harness h({fail_x, call_output("fail", {{"why", "y"}}), fail_x, fail_x, "never"});
  LoopResult result = h.run();
  EXPECT_EQ(result.reason, StopReason::repeated_failure);
  EXPECT_EQ(result.turns, 4);
  EXPECT_NE(result.detail.find("fail {\"why\":\"x\"} failed 3 times"), std::string::npos) << result.detail;
  EXPECT_NE(result.detail.find("it failed: x"), std::string::npos) << result.detail;
}

TEST(AgentLoop, TurnAndTokenBudgetsStopTheRun) {
  auto forever = [](const Conversation &) -> Expected<std::string> { return call_output("echo", {{"text", "again"}}); };
  {
    Harness h(forever);
    LoopOptions options;
    options.limits.max_turns = 4;
    LoopResult result = h.run(options);
    EXPECT_EQ(result.reason, StopReason::turn_limit);
    EXPECT_EQ(result.turns, 4);
  }
  {
    Harness h(forever);
    LoopOptions options;
    options.limits.max_tokens = 3000;
    LoopResult result = h.run(options);
    EXPECT_EQ(result.reason, StopReason::token_limit);
    EXPECT_GE(result.usage.prefilled + result.usage.generated, 3000);
    // One turn less would have been under budget: it stopped at the first turn over it.
    EXPECT_GT(result.turns, 1);
  }
}

TEST(AgentLoop, WallClockBudgetStopsARunningTool) {
  Harness h({call_output("slow", Json::object()), "never"});
  LoopOptions options;
  options.limits.max_seconds = 0.2;
  LoopResult result = h.run(options);
  EXPECT_EQ(result.reason, StopReason::time_limit) << result.detail;
  const Message & tool = h.conversation.messages().back();
  ASSERT_EQ(tool.role, Role::tool);
  EXPECT_TRUE(tool.results[0].cancelled);
  EXPECT_NE(tool.results[0].text.find("tick"), std::string::npos);
  EXPECT_NE(tool.results[0].text.find("time limit"), std::string::npos);
}

TEST(AgentLoop, StopToolSendsPartialOutputBackAndTheTurnGoesOn) {
  Harness h({"<tool_calls>\n{\"name\": \"slow\", \"arguments\": {}}\n{\"name\": \"echo\", \"arguments\": {\"text\": \"b\"}}\n</tool_calls>",
             "stopped as asked"});
  AgentLoop * running = nullptr;
  h.tools.on_slow_start = [&] {
    std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      running->stop_tool();
    }).detach();
  };
  AgentLoop loop(*h.model, h.tools, h.log);
  running = &loop;
  LoopResult result = loop.run(h.conversation);
  EXPECT_EQ(result.reason, StopReason::answered) << result.detail;
  const Message & tool = h.conversation.messages()[3];
  ASSERT_EQ(tool.results.size(), 2u);
  EXPECT_TRUE(tool.results[0].cancelled);
  EXPECT_EQ(tool.results[0].text.rfind("tick\n", 0), 0u);
  EXPECT_NE(tool.results[0].text.find("[cancelled by the user"), std::string::npos);
  EXPECT_TRUE(tool.results[1].cancelled);
  EXPECT_NE(tool.results[1].text.find("not run: the user stopped an earlier call"), std::string::npos);
  EXPECT_EQ(h.tools.ran.size(), 1u);
}

TEST(AgentLoop, AbortTurnEndsTheRunAndTheSessionGoesOn) {
  Harness h({call_output("slow", Json::object()), "second run answer"});
  AgentLoop loop(*h.model, h.tools, h.log);
  h.tools.on_slow_start = [&] {
    std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      loop.abort_turn();
    }).detach();
  };
  LoopResult first = loop.run(h.conversation);
  EXPECT_EQ(first.reason, StopReason::cancelled) << first.detail;
  EXPECT_EQ(h.conversation.messages().back().role, Role::tool);
  EXPECT_TRUE(h.conversation.messages().back().results[0].cancelled);

  h.conversation.append(Message::user_message("Never mind, just answer."));
  ASSERT_TRUE(loop.record_messages(h.conversation, h.conversation.messages().size() - 1).ok());
  LoopResult second = loop.run(h.conversation);
  EXPECT_EQ(second.reason, StopReason::answered) << second.detail;
  EXPECT_EQ(second.answer, "second run answer");
}

TEST(AgentLoop, AbortDuringGenerationKeepsThePartialOutput) {
  ScriptedModelOptions options;
  options.stream_chunk_bytes = 4;
  Harness h({"<think>\nthinking for a long while\n</think>\nanswer"}, options);
  AgentLoop loop(*h.model, h.tools, h.log);
  h.recorder.on_delta = [&](const OutputDelta &) { loop.abort_turn(); };
  LoopResult result = loop.run(h.conversation);
  EXPECT_EQ(result.reason, StopReason::cancelled);
  const Message & partial = h.conversation.messages().back();
  EXPECT_EQ(partial.role, Role::assistant);
  EXPECT_TRUE(partial.aborted);
  EXPECT_LT(partial.raw.size(), 30u);
  EXPECT_EQ(h.recorder.events.back().payload["reason"], "cancelled");
}

TEST(AgentLoop, RefusedCallsAreToldToTheModel) {
  Harness h({call_output("echo", {{"text", "secret"}}), "fine"});
  LoopOptions options;
  options.approve = [](const ToolCall & call, std::string & reason) {
    reason = "no " + call.name + " today";
    return false;
  };
  LoopResult result = h.run(options);
  EXPECT_EQ(result.reason, StopReason::answered);
  EXPECT_TRUE(h.tools.ran.empty());
  EXPECT_EQ(h.conversation.messages()[3].results[0].text, "refused: the user did not approve this call: no echo today");
}

TEST(AgentLoop, AModelErrorStopsWithItsMessage) {
  Harness h(std::vector<std::string>{call_output("echo", {{"text", "a"}})});
  LoopResult result = h.run();
  EXPECT_EQ(result.reason, StopReason::model_error);
  EXPECT_NE(result.detail.find("no output left for model call 2"), std::string::npos) << result.detail;
  EXPECT_EQ(h.recorder.kinds()[h.recorder.events.size() - 2], "error");
}

// Each turn prefills exactly the newly rendered tokens: the prompt rendered from scratch (the
// oracle) grows by the previous output plus what the turn prefilled; nothing is processed twice.
TEST(AgentLoop, EachTurnPrefillsOnlyTheNewSuffix) {
  std::vector<std::string> prompts;  // the whole prompt, rendered from scratch, at each model call
  FakeTools tools;
  int turn = 0;
  Harness h([&](const Conversation & c) -> Expected<std::string> {
    prompts.push_back(render_prompt(c.messages(), c.tools()));
    return ++turn < 6 ? call_output("echo", {{"text", std::string(size_t(turn * 37), 'a')}}) : std::string("done");
  });
  LoopResult result = h.run();
  ASSERT_EQ(result.reason, StopReason::answered);
  std::vector<Json> usage;
  for (const Event & e : h.recorder.events)
    if (e.kind == "usage") usage.push_back(e.payload);
  ASSERT_EQ(usage.size(), 6u);
  EXPECT_EQ(usage[0]["reused"], 0);
  EXPECT_EQ(usage[0]["prefilled"], int64_t(prompts[0].size()));
  for (size_t k = 1; k < usage.size(); ++k) {
    int64_t grown = int64_t(prompts[k].size() - prompts[k - 1].size());
    EXPECT_EQ(usage[k]["prefilled"].get<int64_t>(), grown - usage[k - 1]["generated"].get<int64_t>()) << "turn " << k;
    EXPECT_EQ(usage[k]["reused"].get<int64_t>(), int64_t(prompts[k - 1].size()) + usage[k - 1]["generated"].get<int64_t>());
    EXPECT_EQ(usage[k]["prompt"].get<int64_t>(), int64_t(prompts[k].size()));
    EXPECT_EQ(prompts[k].compare(0, prompts[k - 1].size(), prompts[k - 1]), 0) << "rendering is not append-only";
  }
}

}  // namespace
}  // namespace m1::agents
