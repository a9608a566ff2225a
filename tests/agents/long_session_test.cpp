// Long sessions: compaction keeps what it must, a 300-turn scripted session stays bounded (its
// counters, not clocks, show flat per-turn work), and the log replays to the same conversation.
#include <gtest/gtest.h>

#include "agents/agent_loop.h"
#include "agents/compaction.h"
#include "agents/scripted_model.h"
#include "agents/session_replay.h"
#include "agents/turn_format.h"
#include "tests/agents/fake_tools.h"
#include "tests/agents/temp_dir.h"

namespace m1::agents {
namespace {

using test::call_output;
using test::FakeTools;

const char * kSystem = "You are a test agent. Project rule: never delete files.";
const char * kTask = "Count the words in every file, then report the total.";

Conversation long_conversation(const FakeTools & tools, int turns, size_t output_bytes) {
  Conversation c(tools.prompt_tools());
  c.append(Message::system_message(kSystem));
  c.append(Message::user_message(kTask));
  for (int t = 0; t < turns; ++t) {
    Message a;
    a.role = Role::assistant;
    a.tool_calls = {{"big", {{"bytes", int(output_bytes)}}}};
    a.raw = call_output("big", {{"bytes", int(output_bytes)}});
    c.append(a);
    c.append(Message::tool_message({{"big", "line one\n" + std::string(output_bytes, 'x'), false, false}}));
    if (t == turns / 2) c.append(Message::user_message("Also count the lines."));
  }
  return c;
}

int64_t prompt_size(const std::vector<Message> & messages, const Json & tools) {
  return int64_t(render_prompt(messages, tools).size());
}

TEST(Compaction, ElidesOldToolOutputsFirst) {
  FakeTools tools;
  Conversation c = long_conversation(tools, 10, 2000);
  ScriptedModel model(std::vector<std::string>{}, "script:none");
  int64_t before = prompt_size(c.messages(), c.tools());
  auto result = compact(c, model, before / 2, CompactionOptions());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->summary.empty());
  EXPECT_GT(result->n_outputs_elided, 0u);
  EXPECT_EQ(result->n_messages_summarized, 0u);
  EXPECT_LE(result->tokens_after, before / 2);
  EXPECT_EQ(result->tokens_after, prompt_size(result->messages, c.tools()));
  EXPECT_EQ(result->messages.size(), c.messages().size());  // nothing dropped, outputs shortened
  // The last 6 messages are kept in full.
  for (size_t i = 1; i <= 6; ++i)
    EXPECT_EQ(message_to_json(result->messages[result->messages.size() - i]),
              message_to_json(c.messages()[c.messages().size() - i]));
  bool found = false;
  for (const Message & m : result->messages)
    for (const ToolOutcome & r : m.results) found |= r.text.find("[output elided by compaction: 2009 bytes in all]") != std::string::npos;
  EXPECT_TRUE(found);
}

TEST(Compaction, SummarizesOlderTurnsAndKeepsSystemAndUserMessagesVerbatim) {
  FakeTools tools;
  Conversation c = long_conversation(tools, 40, 300);
  ScriptedModel model(std::vector<std::string>{}, "script:none");
  int64_t before = prompt_size(c.messages(), c.tools());
  auto result = compact(c, model, before / 5, CompactionOptions());
  ASSERT_TRUE(result.ok());
  EXPECT_LE(result->tokens_after, before / 5);
  EXPECT_FALSE(result->model_summary);
  const auto & m = result->messages;
  EXPECT_EQ(m[0].role, Role::system);
  EXPECT_EQ(m[0].text, kSystem);
  std::vector<std::string> users;
  for (const Message & x : m)
    if (x.role == Role::user && !x.summary) users.push_back(x.text);
  EXPECT_EQ(users, (std::vector<std::string>{kTask, "Also count the lines."}));
  auto summary = std::find_if(m.begin(), m.end(), [](const Message & x) { return x.summary; });
  ASSERT_NE(summary, m.end());
  EXPECT_NE(summary->text.find("big {\"bytes\":300} -> ok (2 lines)"), std::string::npos) << summary->text;
  EXPECT_EQ(summary->text, result->summary);
  // The recent turns follow the summary in full, starting with an assistant message.
  ASSERT_LT(summary - m.begin() + 1, long(m.size()));
  EXPECT_EQ((summary + 1)->role, Role::assistant);
  EXPECT_EQ(message_to_json(m.back()), message_to_json(c.messages().back()));
}

TEST(Compaction, UsesTheModelsSummaryWhenItWritesOne) {
  FakeTools tools;
  Conversation c = long_conversation(tools, 30, 300);
  ScriptedModelOptions options;
  std::string request_seen;
  options.summarizer = [&](const std::string & request) -> Expected<std::string> {
    request_seen = request;
    return std::string("Counted words in 30 files so far.");
  };
  ScriptedModel model(std::vector<std::string>{}, "script:none", options);
  auto result = compact(c, model, prompt_size(c.messages(), c.tools()) / 5, CompactionOptions());
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->model_summary);
  EXPECT_NE(result->summary.find("Counted words in 30 files so far."), std::string::npos);
  EXPECT_NE(request_seen.find("big {\"bytes\":300}"), std::string::npos);  // it saw the structural outline
}

// 300 tool turns and an answer, against a context that holds a small fraction of the history.
// Bounded memory: every prompt stays under the context and the conversation under a fixed size.
// Flat per-turn work: between compactions each turn prefills the same small suffix; a restart
// after compaction prefills at most the compacted prompt (the head is reused).
TEST(LongSession, ThreeHundredTurnsCompactAndStayFlat) {
  constexpr int kTurns = 300;
  test::TempDir dir;
  auto store = SessionStore::open(dir.file("s.db"), StoreOptions{false, "", 10000});
  ASSERT_TRUE(store.ok());
  auto session = (*store)->create_session(SessionInfo());
  ASSERT_TRUE(session.ok());

  ScriptedModelOptions options;
  options.context_tokens = 48 * 1024;
  int calls = 0;
  bool task_always_visible = true;
  auto script = [&](const Conversation & c) -> Expected<std::string> {
    const auto & m = c.messages();
    task_always_visible &= m.size() >= 2 && m[0].text == kSystem && m[1].text == kTask;
    ++calls;
    if (calls > kTurns) return std::string("<think>\nAll done.\n</think>\nTotal: 300 files.");
    return call_output("echo", {{"text", "file " + std::to_string(calls) + ": " + std::string(600, 'w')}},
                       "Turn " + std::to_string(calls));
  };
  FakeTools tools;
  ScriptedModel model(script, "script:long", options);
  EventLog log(store->get(), *session);
  Conversation conversation(tools.prompt_tools());
  conversation.append(Message::system_message(kSystem));
  conversation.append(Message::user_message(kTask));
  LoopOptions loop_options;
  loop_options.limits.max_turns = kTurns + 10;
  AgentLoop loop(model, tools, log, loop_options);
  ASSERT_TRUE(loop.record_messages(conversation).ok());
  size_t max_conversation_bytes = 0;
  struct Sizes : LoopObserver {
    Conversation * c;
    size_t * max_bytes;
    void on_event(const Event &) override { *max_bytes = std::max(*max_bytes, c->text_bytes()); }
  } sizes;
  sizes.c = &conversation;
  sizes.max_bytes = &max_conversation_bytes;
  log.add_observer(&sizes);
  LoopResult result = loop.run(conversation);

  ASSERT_EQ(result.reason, StopReason::answered) << result.detail;
  EXPECT_EQ(result.turns, kTurns + 1);
  EXPECT_EQ(result.answer, "Total: 300 files.");
  EXPECT_TRUE(task_always_visible);
  EXPECT_GE(result.compactions, 3);
  EXPECT_LT(max_conversation_bytes, size_t(options.context_tokens));

  auto events = (*store)->events(*session);
  ASSERT_TRUE(events.ok());
  std::vector<Json> usage;
  int compactions = 0;
  for (const Event & e : *events) {
    if (e.kind == "usage") usage.push_back(e.payload);
    compactions += e.kind == "compaction";
  }
  EXPECT_EQ(compactions, result.compactions);
  ASSERT_EQ(usage.size(), size_t(kTurns + 1));
  int64_t head = int64_t(render_prompt_head(conversation.system_messages(), conversation.tools()).size());
  int64_t steady = -1;
  int restarts = 0;
  for (size_t t = 1; t + 1 < usage.size(); ++t) {  // the first call and the answer differ in size
    int64_t prompt = usage[t]["prompt"], prefilled = usage[t]["prefilled"], reused = usage[t]["reused"];
    EXPECT_LE(prompt + usage[t]["generated"].get<int64_t>(), options.context_tokens) << "turn " << t;
    if (reused == head) {  // a restart after compaction: the system-prompt memory was reused
      ++restarts;
      EXPECT_LE(prefilled, int64_t(0.4 * double(options.context_tokens))) << "turn " << t;
      continue;
    }
    if (steady < 0) steady = prefilled;
    // Every non-restart turn prefills the same suffix size (+-2 bytes for the turn number's digits).
    EXPECT_NEAR(double(prefilled), double(steady), 4.0) << "turn " << t;
  }
  EXPECT_EQ(restarts, result.compactions);
  EXPECT_LT(steady, 1000);

  // The log replays to the very conversation the loop ended with.
  auto replay = replay_events(*events, tools.prompt_tools());
  ASSERT_TRUE(replay.ok()) << replay.status().message();
  ASSERT_EQ(replay->conversation.messages().size(), conversation.messages().size());
  for (size_t i = 0; i < conversation.messages().size(); ++i)
    EXPECT_EQ(message_to_json(replay->conversation.messages()[i]), message_to_json(conversation.messages()[i])) << i;
  EXPECT_TRUE(replay->answered);
  EXPECT_TRUE(replay->missing_results.empty());
}

}  // namespace
}  // namespace m1::agents
