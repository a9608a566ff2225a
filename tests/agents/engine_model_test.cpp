// The agent's engine backend over the real CPU M1 network (a small random M1-shaped checkpoint and
// the GPT-2-shaped test tokenizer): each turn the engine prefills exactly the newly rendered
// tokens, checked against the engine's own counters and against the prompt rendered from scratch
// (the oracle); after a compaction it restarts from the prompt head's memory without
// recomputing it.
#include "agents/engine_model.h"

#include "agents/agent_loop.h"
#include "agents/agent_session.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "agents/turn_format.h"
#include "model/random_checkpoint.h"
#include "runtime/engine_text.h"
#include "tests/agents/fake_tools.h"
#include "tests/runtime/temp_path.h"

namespace m1::agents {
namespace {

namespace fs = std::filesystem;

const std::string & model_dir() {
  static const std::string dir = [] {
    const fs::path d = m1::testing::temp_path("m1_agents_engine_model");
    fs::remove_all(d);
    M1Dimensions dims{2048, 64, 9, 4, 2, 16, 8, 4, 2, 64, 16};
    RandomCheckpointOptions options;
    options.seed = 11;
    options.dialect = ConfigDialect::transformers;
    Status written = write_random_checkpoint(d.string(), m1_shaped_config(dims), options);
    EXPECT_TRUE(written.ok()) << written.message();
    fs::copy_file(fs::path(M1_TEST_DATA_DIR) / "tokenizer/gpt2.tokenizer.json", d / "tokenizer.json");
    return d.string();
  }();
  static const m1::testing::RemovedAtExit removed{dir};
  return dir;
}

std::unique_ptr<EngineModel> open_model(int max_tokens = 6) {
  EngineModelOptions options;
  options.request.max_tokens = max_tokens;  // a random model's output: only its length matters here
  options.request.sampling.seed = 5;
  auto model = EngineModel::open(model_dir(), options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? std::move(*model) : nullptr;
}

Message assistant_from(const ModelOutput & output) {
  Message m;
  m.role = Role::assistant;
  m.raw = output.text;
  return m;
}

int64_t n_tokens(EngineModel & model, const std::string & text) { return *model.count_tokens(text); }

TEST(EngineModel, EachTurnPrefillsOnlyTheNewTokens) {
  auto model = open_model();
  ASSERT_TRUE(model);
  test::FakeTools tools;
  Conversation c(tools.prompt_tools());
  c.append(Message::system_message("You are a test agent."));
  c.append(Message::user_message("List the files."));

  std::string memory_text;  // what the engine's memory holds, as text (the oracle's view)
  for (int turn = 0; turn < 5; ++turn) {
    std::string prompt = render_prompt(c.messages(), c.tools());
    // The memory is a prefix of the new prompt, up to an end marker the engine holds as its
    // eos token: the rest is what must be prefilled, and nothing else.
    std::string expected_suffix = prompt.substr(memory_text.size());
    EngineStats before = model->engine().stats();
    auto output = model->generate(c, {});
    ASSERT_TRUE(output.ok()) << output.status().message();
    EngineStats after = model->engine().stats();
    // The engine leaves the last token of every call uncomputed (the next call computes it with
    // its own tokens), so from the second turn on its prefill counter runs one ahead of the tokens
    // this call appended: the previous output's last token.
    int64_t engine_prefilled = int64_t(after.tokens_prefilled - before.tokens_prefilled);
    int64_t computed = int64_t(after.tokens_computed - before.tokens_computed);
    int64_t generated = int64_t(after.tokens_generated - before.tokens_generated);
    EXPECT_EQ(engine_prefilled, output->usage.prefilled + (turn > 0 ? 1 : 0)) << "turn " << turn;
    EXPECT_EQ(output->usage.generated, generated) << "turn " << turn;
    // The first turn prefills the head (in its own session, for reuse) and then the rest.
    std::string head = render_prompt_head(c.system_messages(), c.tools());
    int64_t expected = turn == 0 ? n_tokens(*model, head) + n_tokens(*model, prompt.substr(head.size()))
                                 : n_tokens(*model, expected_suffix);
    EXPECT_EQ(output->usage.prefilled, expected) << "turn " << turn;
    // Nothing before was computed again: the model ran over the new tokens and the output only.
    EXPECT_EQ(computed, engine_prefilled + generated - 1) << "turn " << turn;
    EXPECT_EQ(output->usage.reused + output->usage.prefilled, output->usage.prompt);

    c.append(assistant_from(*output));
    memory_text = prompt + output->text + (output->end_token ? "<end_of_sentence>" : "");
    c.append(Message::tool_message({{"echo", "a.txt\nb.txt " + std::to_string(turn), false, false}}));
    ASSERT_EQ(render_prompt(c.messages(), c.tools()).compare(0, memory_text.size(), memory_text), 0)
        << "rendering is not append-only";
  }
}

TEST(EngineModel, ACompactedHistoryRestartsFromTheHeadsMemory) {
  auto model = open_model();
  ASSERT_TRUE(model);
  test::FakeTools tools;
  Conversation c(tools.prompt_tools());
  c.append(Message::system_message("You are a test agent."));
  c.append(Message::user_message("Task."));
  auto first = model->generate(c, {});
  ASSERT_TRUE(first.ok());
  c.append(assistant_from(*first));
  c.append(Message::tool_message({{"echo", std::string(300, 'x'), false, false}}));

  std::vector<Message> compacted{c.messages()[0], c.messages()[1], Message::user_message("[Summary] one echo ran.")};
  c.replace_history(compacted);
  std::string head = render_prompt_head(c.system_messages(), c.tools());
  std::string prompt = render_prompt(c.messages(), c.tools());
  EngineStats before = model->engine().stats();
  auto output = model->generate(c, {});
  ASSERT_TRUE(output.ok()) << output.status().message();
  EngineStats after = model->engine().stats();
  EXPECT_EQ(output->usage.reused, n_tokens(*model, head));
  EXPECT_EQ(output->usage.prefilled, n_tokens(*model, prompt.substr(head.size())));
  // + 1: the head's last token, left uncomputed by the head's own append (see above).
  EXPECT_EQ(int64_t(after.tokens_prefilled - before.tokens_prefilled), output->usage.prefilled + 1);
  EXPECT_EQ(int64_t(after.tokens_computed - before.tokens_computed), output->usage.prefilled + output->usage.generated);
}

TEST(EngineModel, CancelEndsGenerationAndTheNextCallStartsOver) {
  auto model = open_model(200);
  ASSERT_TRUE(model);
  Conversation c;
  c.append(Message::user_message("Say something."));
  auto output = model->generate(c, [&](std::string_view) { model->cancel(); });
  ASSERT_TRUE(output.ok()) << output.status().message();
  ASSERT_TRUE(output->cancelled);
  EXPECT_LT(output->usage.generated, 200);
  c.append(assistant_from(*output));
  c.append(Message::user_message("Again."));
  auto next = model->generate(c, {});
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(next->usage.prompt, n_tokens(*model, render_prompt(c.messages(), c.tools())));
}

}  // namespace
}  // namespace m1::agents

namespace m1::agents {
namespace {

// A session saved with its engine memory resumes in a fresh engine (a new process) without
// prefilling the conversation again; without the snapshot it re-prefills everything.
TEST(EngineModel, ResumeContinuesFromTheSavedMemory) {
  fs::path dir = fs::temp_directory_path() / ("m1_agents_resume_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  test::FakeTools tools;
  std::string id;
  {
    auto store = SessionStore::open((dir / "s.db").string());
    ASSERT_TRUE(store.ok());
    SessionSetup setup;
    setup.system_prompt = "You are a test agent.";
    setup.task = "Say something.";
    auto session = AgentSession::start(store->get(), setup, tools.prompt_tools());
    ASSERT_TRUE(session.ok());
    id = (*session)->id();
    auto model = open_model();
    AgentLoop loop(*model, tools, (*session)->log());
    LoopResult result = loop.run((*session)->conversation());
    ASSERT_EQ(result.turns, 1) << result.detail;  // random text has no calls: it is an answer
    Status saved = (*session)->save_memory(*model, dir.string());
    ASSERT_TRUE(saved.ok()) << saved.message();
    auto row = (*store)->latest_snapshot(id);
    ASSERT_TRUE(row.ok() && row->has_value());
    EXPECT_TRUE(fs::exists((*row)->path));
  }
  auto store = SessionStore::open((dir / "s.db").string());
  ASSERT_TRUE(store.ok());
  auto resumed = AgentSession::resume(**store, id, tools.prompt_tools());
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  ASSERT_FALSE((*resumed)->snapshot().is_null());
  ASSERT_TRUE((*resumed)->add_user_message("And now?").ok());
  const Conversation & c = (*resumed)->conversation();
  int64_t whole_prompt = [&] {
    auto counter = open_model();
    return *counter->count_tokens(render_prompt(c.messages(), c.tools()));
  }();

  auto with_memory = open_model();  // a fresh engine, as after a restart
  Status restored = with_memory->restore_memory((*resumed)->snapshot(), c);
  ASSERT_TRUE(restored.ok()) << restored.message();
  EngineStats before = with_memory->engine().stats();
  auto output = with_memory->generate(c, {});
  ASSERT_TRUE(output.ok()) << output.status().message();
  EXPECT_EQ(output->usage.reused, (*resumed)->snapshot()["n_tokens"].get<int64_t>());
  EXPECT_EQ(output->usage.prompt, output->usage.reused + output->usage.prefilled);
  EXPECT_LT(output->usage.prefilled, 40);  // the closing, the new user message, the generation prompt
  // The loaded memory's last token is computed with the new ones (+1), and nothing else.
  EXPECT_EQ(int64_t(with_memory->engine().stats().tokens_prefilled - before.tokens_prefilled), output->usage.prefilled + 1);

  auto without_memory = open_model();
  auto full = without_memory->generate(c, {});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->usage.reused, 0);
  EXPECT_GT(full->usage.prefilled, 10 * output->usage.prefilled);
  EXPECT_NEAR(double(full->usage.prefilled), double(whole_prompt), 2.0);  // head split: BPE may differ by a token
  fs::remove_all(dir);
}

}  // namespace
}  // namespace m1::agents
