// m1::Engine's own logic over the toy model (toy_sequence_model.h), whose results do not depend
// on chunking or batching: so every comparison here is bit-identical. The oracle is always the
// plainest path: one fresh session, no cache, everything appended at once.
#include <gtest/gtest.h>

#include "tests/runtime/temp_path.h"

#include <filesystem>
#include <random>
#include <thread>

#include "runtime/engine.h"
#include "tests/runtime/toy_sequence_model.h"

namespace m1 {
namespace {

using testing::ToySequenceModel;
using testing::ToyText;

constexpr size_t kVocab = 40;

struct Opened {
  std::unique_ptr<Engine> engine;
  ToySequenceModel * model;
};

Opened open_toy(EngineOptions options = {}) {
  auto model = std::make_unique<ToySequenceModel>(kVocab);
  ToySequenceModel * raw = model.get();
  auto engine = Engine::open(options, std::move(model), std::make_unique<ToyText>());
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  return {std::move(*engine), raw};
}

std::vector<Token> random_tokens(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<Token> t(n);
  for (Token & x : t) x = Token(gen() % 30);
  return t;
}

struct Trace {
  std::vector<Token> tokens;
  std::vector<float> logprobs;
  bool operator==(const Trace &) const = default;
};

Trace generate(Engine & e, SessionId s, int n, SamplingParams sampling = {}) {
  GenerateRequest r;
  r.max_tokens = n;
  r.sampling = sampling;
  r.stop_at_eos = false;
  Trace t;
  auto result = e.generate(s, r, [&](const TokenEvent & ev) {
    if (ev.token == TokenEvent::kNoToken) return;
    t.tokens.push_back(ev.token);
    t.logprobs.push_back(ev.logprob);
  });
  EXPECT_TRUE(result.ok()) << result.status().message();
  return t;
}

// The oracle: a fresh engine without cache, everything appended at once, then generation.
Trace reference(const std::vector<Token> & tokens, int n, SamplingParams sampling = {}) {
  EngineOptions o;
  o.state_cache = false;
  Opened fresh = open_toy(o);
  SessionId s = fresh.engine->create_session();
  EXPECT_TRUE(fresh.engine->append(s, tokens).ok());
  return generate(*fresh.engine, s, n, sampling);
}

std::vector<Token> concat(std::vector<Token> a, const std::vector<Token> & b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(EngineLogic, MultiTurnSessionPrefillsOnlyNewTokens) {
  Opened t = open_toy();
  SessionId s = t.engine->create_session();
  std::vector<Token> history;
  for (int turn = 0; turn < 4; ++turn) {
    const std::vector<Token> user = random_tokens(20, unsigned(turn));
    const EngineStats before = t.engine->stats();
    ASSERT_TRUE(t.engine->append(s, user).ok());
    history = concat(history, user);
    const Trace got = generate(*t.engine, s, 5);
    EXPECT_EQ(got, reference(history, 5)) << "turn " << turn;
    history = concat(history, got.tokens);
    const EngineStats after = t.engine->stats();
    // 20 new tokens + 5 generated ones, less one: the last token always waits for the next call
    // (from turn 1 on, the previous turn's last token is computed now): never the history again.
    EXPECT_EQ(after.tokens_computed - before.tokens_computed, turn == 0 ? 24u : 25u) << "turn " << turn;
  }
}

TEST(EngineLogic, NewSessionStartsFromLongestSnapshotAtAnyPosition) {
  Opened t = open_toy();
  const std::vector<Token> system = random_tokens(37, 1), turn1 = random_tokens(23, 2);
  SessionId a = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(a, system).ok());  // snapshot at 36
  ASSERT_TRUE(t.engine->append(a, turn1).ok());   // snapshot at 59
  // Same system prompt and first turn, then a different second message: starts at 59.
  const std::vector<Token> other = random_tokens(11, 3);
  SessionId b = t.engine->create_session();
  const EngineStats before = t.engine->stats();
  ASSERT_TRUE(t.engine->append(b, concat(concat(system, turn1), other)).ok());
  EXPECT_EQ(t.engine->stats().tokens_reused - before.tokens_reused, 59u);
  EXPECT_EQ(t.engine->stats().tokens_computed - before.tokens_computed, 11u);
  EXPECT_EQ(generate(*t.engine, b, 6), reference(concat(concat(system, turn1), other), 6));
  // Only the system prompt in common: starts at 36.
  SessionId c = t.engine->create_session();
  const EngineStats before_c = t.engine->stats();
  ASSERT_TRUE(t.engine->append(c, concat(system, other)).ok());
  EXPECT_EQ(t.engine->stats().tokens_reused - before_c.tokens_reused, 36u);
  EXPECT_EQ(generate(*t.engine, c, 6), reference(concat(system, other), 6));
}

TEST(EngineLogic, RetriedTurnReusesTheSnapshotBeforeGeneration) {
  Opened t = open_toy();
  const std::vector<Token> prompt = random_tokens(50, 4);
  SessionId a = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(a, prompt).ok());
  SamplingParams hot;
  hot.temperature = 1.0f;
  hot.seed = 1;
  const Trace first = generate(*t.engine, a, 8, hot);
  // The retry: a new session with the same prompt computes only the last prompt token.
  SessionId b = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(b, prompt).ok());
  const EngineStats before = t.engine->stats();
  hot.seed = 2;
  const Trace retry = generate(*t.engine, b, 8, hot);
  EXPECT_EQ(retry, reference(prompt, 8, hot));
  EXPECT_NE(retry.tokens, first.tokens);
  EXPECT_EQ(t.engine->stats().tokens_computed - before.tokens_computed, 8u);
}

TEST(EngineLogic, ForkThenDivergeEqualsIndependentSessions) {
  Opened t = open_toy();
  const std::vector<Token> shared = random_tokens(40, 5), left = random_tokens(9, 6), right = random_tokens(13, 7);
  SessionId a = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(a, shared).ok());
  Expected<SessionId> b = t.engine->fork(a);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(t.engine->append(a, left).ok());
  ASSERT_TRUE(t.engine->append(*b, right).ok());
  EXPECT_EQ(generate(*t.engine, a, 7), reference(concat(shared, left), 7));
  EXPECT_EQ(generate(*t.engine, *b, 7), reference(concat(shared, right), 7));
}

TEST(EngineLogic, SavedSessionContinuesBitIdenticallyInANewEngine) {
  const std::string path = testing::temp_path("m1_engine_logic_session.m1s");
  const testing::RemovedAtExit cleanup_path{path};
  const std::vector<Token> prompt = random_tokens(33, 8);
  Trace continued;
  {
    Opened t = open_toy();
    SessionId s = t.engine->create_session();
    ASSERT_TRUE(t.engine->append(s, prompt).ok());
    const Trace first = generate(*t.engine, s, 4);
    ASSERT_TRUE(t.engine->save(s, path).ok());
    continued = generate(*t.engine, s, 6);  // never saved, never reloaded
  }
  Opened restarted = open_toy();
  Expected<SessionId> s = restarted.engine->load(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(generate(*restarted.engine, *s, 6), continued);
}

// A state that cannot be copied out (a device error) fails fork and save with the device's
// message, writes no file, skips the turn's snapshot, and leaves the session as it was.
TEST(EngineLogic, StateCopyErrorsFailTheCallAndLoseNothing) {
  const std::string path = testing::temp_path("m1_engine_logic_unsaved.m1s");
  const testing::RemovedAtExit cleanup_path{path};
  const std::vector<Token> prompt = random_tokens(21, 12), more = random_tokens(5, 13);
  Opened t = open_toy();
  SessionId s = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(s, prompt).ok());
  t.model->fail_copies = true;
  Expected<SessionId> forked = t.engine->fork(s);
  ASSERT_FALSE(forked.ok());
  EXPECT_NE(forked.status().message().find("fork: toy state: device lost"), std::string::npos)
      << forked.status().message();
  const Status saved = t.engine->save(s, path);
  ASSERT_FALSE(saved.ok());
  EXPECT_NE(saved.message().find("save: toy state: device lost"), std::string::npos) << saved.message();
  EXPECT_FALSE(std::filesystem::exists(path));
  ASSERT_TRUE(t.engine->append(s, more).ok());  // its snapshot is skipped, the turn is not
  t.model->fail_copies = false;
  EXPECT_EQ(generate(*t.engine, s, 5), reference(concat(prompt, more), 5));
  ASSERT_TRUE(t.engine->save(s, path).ok());
}

TEST(EngineLogic, EvictionToDiskAndReloadKeepsResultsIdentical) {
  const std::string dir = testing::temp_path("m1_engine_logic_evict");
  const testing::RemovedAtExit cleanup_dir{dir};
  std::filesystem::remove_all(dir);
  EngineOptions o;
  o.cache_budgets = {300, 300, 1 << 20};  // a snapshot or two per memory tier
  o.state_dir = dir;
  const std::vector<Token> system = random_tokens(64, 9);
  std::vector<std::vector<Token>> prompts;
  {
    Opened t = open_toy(o);
    for (unsigned i = 0; i < 6; ++i) {
      prompts.push_back(concat(system, random_tokens(30, 100 + i)));
      SessionId s = t.engine->create_session();
      ASSERT_TRUE(t.engine->append(s, prompts.back()).ok());
    }
    const EngineStats st = t.engine->stats();
    EXPECT_GT(st.snapshots[int(Tier::disk)], 0u);
    EXPECT_LE(st.cache_bytes.device, 300u);
    EXPECT_LE(st.cache_bytes.host, 300u);
  }
  // A new process: every prompt is found on disk, and continues exactly.
  Opened t = open_toy(o);
  for (const std::vector<Token> & p : prompts) {
    SessionId s = t.engine->create_session();
    const EngineStats before = t.engine->stats();
    ASSERT_TRUE(t.engine->append(s, p).ok());
    EXPECT_EQ(t.engine->stats().tokens_reused - before.tokens_reused, p.size() - 1);
    EXPECT_EQ(generate(*t.engine, s, 5), reference(p, 5));
  }
}

TEST(EngineLogic, ConcurrentSessionsAreBatchedAndEqualSolo) {
  EngineOptions o;
  o.step_budget = {64, 16};  // long prompts are chunked, decodes share steps
  Opened t = open_toy(o);
  t.model->step_delay_us = 1000;
  const int n = 4;
  std::vector<std::vector<Token>> prompts;
  for (int i = 0; i < n; ++i) prompts.push_back(random_tokens(50 + 70 * size_t(i), 200 + unsigned(i)));
  std::vector<Trace> got(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      SessionId s = t.engine->create_session();
      EXPECT_TRUE(t.engine->append(s, prompts[size_t(i)]).ok());
      got[size_t(i)] = generate(*t.engine, s, 30);
    });
  for (std::thread & th : threads) th.join();
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[size_t(i)], reference(prompts[size_t(i)], 30)) << "session " << i;
  EXPECT_GT(t.model->max_batch.load(), 1u);
}

TEST(EngineLogic, SeededSamplingIsReproducibleAndNeverUndefinedIds) {
  Opened t = open_toy();
  const std::vector<Token> prompt = random_tokens(20, 10);
  SamplingParams p;
  p.temperature = 2.0f;  // flat enough that id 31 would come up if it were not masked
  p.seed = 77;
  auto run = [&] {
    SessionId s = t.engine->create_session();
    EXPECT_TRUE(t.engine->append(s, prompt).ok());
    return generate(*t.engine, s, 200, p);
  };
  const Trace a = run(), b = run();
  EXPECT_EQ(a, b);
  for (Token x : a.tokens) EXPECT_NE(x, ToyText::kUndefined);
}

TEST(EngineLogic, StopStringEndsGenerationAndHidesItself) {
  Opened t = open_toy();
  const std::vector<Token> prompt = random_tokens(20, 11);
  const Trace free_run = reference(prompt, 40);
  std::string text;
  for (Token x : free_run.tokens) text += ToyText::spelling(x);
  const std::string stop = text.substr(10, 3);  // three characters the model writes anyway
  SessionId s = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(s, prompt).ok());
  GenerateRequest r;
  r.max_tokens = 40;
  r.stop_at_eos = false;
  r.stop = {stop};
  std::string streamed;
  auto result = t.engine->generate(s, r, [&](const TokenEvent & e) { streamed += e.text; });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->finish, FinishReason::stop_string);
  EXPECT_EQ(streamed, text.substr(0, text.find(stop)));
  EXPECT_EQ(result->text, streamed);
}

TEST(EngineLogic, ThinkingBudgetForcesTheClosingTagThenContinues) {
  Opened t = open_toy();
  SessionId s = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(s, random_tokens(12, 12)).ok());
  GenerateRequest r;
  r.max_tokens = 20;
  r.stop_at_eos = false;
  r.starts_in_reasoning = true;
  r.thinking_budget = 5;
  std::vector<TokenEvent> events;
  auto result = t.engine->generate(s, r, [&](const TokenEvent & e) { events.push_back(e); });
  ASSERT_TRUE(result.ok());
  ASSERT_GE(result->tokens.size(), 8u);
  // 5 sampled reasoning tokens, then "\n", "</think>", "\n" forced, then the model again.
  const std::vector<Token> closing = {27, 29, 27};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(result->tokens[5 + i], closing[i]);
    EXPECT_TRUE(events[5 + i].forced);
  }
  EXPECT_FALSE(events[8].forced);
  EXPECT_EQ(result->tokens.size(), 20u);
}

TEST(EngineLogic, EndOfMessageStopsAndStaysInTheSession) {
  Opened t = open_toy();
  SessionId s = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(s, random_tokens(12, 13)).ok());
  GenerateRequest r;
  r.max_tokens = 10;
  // Stop at the first greedy token not seen before position 2 of the free run.
  const Trace free_run = reference(random_tokens(12, 13), 10);
  size_t at = 2;
  while (std::find(free_run.tokens.begin(), free_run.tokens.begin() + ptrdiff_t(at), free_run.tokens[at]) !=
         free_run.tokens.begin() + ptrdiff_t(at))
    ++at;
  r.stop_tokens = {free_run.tokens[at]};
  auto result = t.engine->generate(s, r);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->finish, FinishReason::stop_token);
  EXPECT_EQ(result->tokens.size(), at + 1);
  EXPECT_EQ(t.engine->session_info(s)->n_tokens, 12 + at + 1);
}

TEST(EngineLogic, CancelEndsARunningGeneration) {
  Opened t = open_toy();
  SessionId s = t.engine->create_session();
  ASSERT_TRUE(t.engine->append(s, random_tokens(12, 14)).ok());
  GenerateRequest r;
  r.max_tokens = 1000000;
  r.stop_at_eos = false;
  size_t n = 0;
  auto result = t.engine->generate(s, r, [&](const TokenEvent &) {
    if (++n == 50) t.engine->cancel(s);
  });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->finish, FinishReason::cancelled);
  // Unread events pause a session (256 at most): when the callback asks at event 50, at most a
  // batch of 256 taken by the caller plus 256 queued exist, and one more step runs.
  EXPECT_LE(result->tokens.size(), 50u + 2 * 256u + 1u);
}

TEST(EngineLogic, ErrorsSayWhatIsWrong) {
  Opened t = open_toy();
  SessionId s = t.engine->create_session();
  EXPECT_NE(t.engine->append(s, std::vector<Token>{int(kVocab)}).message().find("outside the vocabulary"),
            std::string::npos);
  EXPECT_NE(t.engine->generate(s, {}).status().message().find("append a prompt first"), std::string::npos);
  EXPECT_NE(t.engine->append(999, std::vector<Token>{1}).message().find("no session 999"), std::string::npos);
  GenerateRequest bad;
  bad.sampling.top_p = 2.0f;
  ASSERT_TRUE(t.engine->append(s, std::vector<Token>{1, 2}).ok());
  EXPECT_NE(t.engine->generate(s, bad).status().message().find("top_p"), std::string::npos);
  EXPECT_NE(t.engine->load("/nonexistent/x.m1s").status().message().find("/nonexistent/x.m1s"), std::string::npos);
}

}  // namespace
}  // namespace m1
