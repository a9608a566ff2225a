// m1::Engine on the GPU (EngineOptions::devices = {0}): against the CPU engine on the model
// fixtures of tests/data/model, and against itself along plainer paths. Skipped, with the reason,
// without a CUDA build or device.
//
// Oracles and tolerances:
//  - GPU vs CPU: the same bf16 weights, but the GPU computes in bf16 activations (fp32
//    accumulation) where the CPU computes in fp32. Greedy tokens must agree wherever the CPU's
//    top-1 / top-2 margin is larger than what bf16 activations can move; logprobs within the
//    bound below.
//  - GPU vs GPU along another path that runs the same kernels on the same inputs in the same
//    order (fork vs independent session, saved vs never saved, cached prefix vs the same chunks
//    without a cache): bit-identical tokens and logprobs.
#include <gtest/gtest.h>

#include "tests/runtime/temp_path.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

#include "runtime/engine.h"
#include "runtime/gpu_sequence_model.h"
#include "tests/kernels/gpu_test_support.h"
#include "tests/model/golden_fixtures.h"

namespace m1 {
namespace {

// The GPU's bf16 GEMM inputs (fp32 accumulation, fp32 residual stream and LM head) move these
// fixtures' logits by ~1e-3-2e-2 relative, more where a near-tied expert choice flips (tests/model/
// gpu_model_test.cpp). A logprob is a logit minus the log-normalizer: with logits of a few units
// that is a few hundredths of a nat (measured on H100, 2026-11-26: worst 0.024 over 128 greedy
// steps of the four fixtures). A margin of 1 nat is far beyond what such an error can cross; an
// expert flip can move one step's logprob further, which the share bound leaves room for.
constexpr double kGreedyMargin = 1.0;
constexpr double kLogprobTolerance = 0.06;
constexpr double kLogprobWithinShare = 0.95;  // of compared steps
constexpr double kLogprobWorst = 1.0;          // an expert flip, not more

struct Trace {
  std::vector<Token> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<TokenChoice>> top;
};

Trace generate(Engine & e, SessionId s, int n, SamplingParams sampling = {}, int top = 0) {
  GenerateRequest r;
  r.max_tokens = n;
  r.sampling = sampling;
  r.stop_at_eos = false;
  r.top_logprobs = top;
  Trace t;
  auto result = e.generate(s, r, [&](const TokenEvent & ev) {
    if (ev.token == TokenEvent::kNoToken) return;
    t.tokens.push_back(ev.token);
    t.logprobs.push_back(ev.logprob);
    t.top.push_back(ev.top);
  });
  EXPECT_TRUE(result.ok()) << result.status().message();
  return t;
}

void expect_bit_identical(const Trace & a, const Trace & b, const std::string & what) {
  EXPECT_EQ(a.tokens, b.tokens) << what;
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size()) << what;
  for (size_t i = 0; i < a.logprobs.size(); ++i) EXPECT_EQ(a.logprobs[i], b.logprobs[i]) << what << ": token " << i;
}

std::vector<Token> random_tokens(size_t n, int vocab, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<Token> t(n);
  for (Token & x : t) x = Token(gen() % unsigned(vocab));
  return t;
}

std::vector<Token> concat(std::vector<Token> a, const std::vector<Token> & b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string fixture_dir(const std::string & name) { return test::golden_root() + "/" + name; }

// The longest fixture (530-token goldens, vocab 160): prompts span several 64-token K/V pages.
const std::string kLongFixture = "orig_three_shards_long";

class GpuEngine : public ::testing::Test {
protected:
  void SetUp() override {
    const std::string reason = test::gpu_unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }

  static std::unique_ptr<Engine> open(const std::string & dir, bool gpu, EngineOptions o = {}) {
    o.model_dir = dir;
    o.threads = 1;
    if (gpu) o.devices = {0};
    o.step_budget.max_tokens = 4096;  // whole prefills in one step
    auto engine = Engine::open(o);
    EXPECT_TRUE(engine.ok()) << engine.status().message();
    return engine.ok() ? std::move(*engine) : nullptr;
  }
};

TEST_F(GpuEngine, GreedyAgreesWithCpuEngineWhereTheMarginIsLarge) {
  int compared = 0, within = 0, tokens_checked = 0;
  double worst = 0;
  for (const test::GoldenFixture & f : test::load_golden_fixtures()) {
    std::unique_ptr<Engine> cpu = open(f.folder, false), gpu = open(f.folder, true);
    ASSERT_TRUE(cpu && gpu);
    for (const test::GoldenSequence & seq : f.sequences) {
      SessionId sc = cpu->create_session(), sg = gpu->create_session();
      ASSERT_TRUE(cpu->append(sc, seq.tokens).ok());
      ASSERT_TRUE(gpu->append(sg, seq.tokens).ok());
      const Trace c = generate(*cpu, sc, 16, {}, 2), g = generate(*gpu, sg, 16, {}, 2);
      ASSERT_EQ(c.tokens.size(), 16u);
      ASSERT_EQ(g.tokens.size(), 16u);
      // Step i compares like with like while every earlier token agreed.
      for (size_t i = 0; i < c.tokens.size(); ++i) {
        const double margin = c.top[i].size() > 1 ? c.top[i][0].logprob - c.top[i][1].logprob : 1e9;
        if (margin > kGreedyMargin) {
          EXPECT_EQ(g.tokens[i], c.tokens[i]) << f.name << ": step " << i << ", CPU margin " << margin;
          ++tokens_checked;
        }
        if (g.tokens[i] != c.tokens[i]) break;
        const double err = std::fabs(double(g.logprobs[i]) - c.logprobs[i]);
        worst = std::max(worst, err);
        ++compared;
        within += err <= kLogprobTolerance;
        EXPECT_LE(err, kLogprobWorst) << f.name << ": step " << i;
      }
    }
  }
  std::printf("GPU vs CPU engine: %d greedy tokens with a margin > %.1f checked; logprobs at %d steps, %d within "
              "%.2f, worst %.3f\n",
              tokens_checked, kGreedyMargin, compared, within, kLogprobTolerance, worst);
  ASSERT_GT(compared, 20);
  EXPECT_GE(double(within) / compared, kLogprobWithinShare);
}

// Sampling with a temperature exercises the seeded draw as well as the fork.
void check_fork_then_diverge(const std::string & dir, EngineOptions options, const std::string & what) {
  options.state_cache = false;
  const std::vector<Token> prompt = random_tokens(150, 160, 1);  // 2 full pages and a partial one
  SamplingParams a_sampling{0.9f, 0, 1.0f, 0.0f, 11}, b_sampling{0.9f, 20, 0.9f, 0.05f, 12};
  Trace fork_a, fork_b;
  {
    options.model_dir = dir;
    options.devices = {0};
    options.threads = 1;
    auto e = Engine::open(options);
    ASSERT_TRUE(e.ok()) << e.status().message();
    SessionId a = (*e)->create_session();
    ASSERT_TRUE((*e)->append(a, prompt).ok());
    Expected<SessionId> b = (*e)->fork(a);
    ASSERT_TRUE(b.ok()) << b.status().message();
    fork_a = generate(**e, a, 24, a_sampling);
    fork_b = generate(**e, *b, 24, b_sampling);
  }
  auto independent = [&](SamplingParams sampling) {
    auto e = Engine::open(options);
    EXPECT_TRUE(e.ok()) << e.status().message();
    SessionId s = (*e)->create_session();
    EXPECT_TRUE((*e)->append(s, prompt).ok());
    return generate(**e, s, 24, sampling);
  };
  expect_bit_identical(fork_a, independent(a_sampling), what + ": fork source");
  expect_bit_identical(fork_b, independent(b_sampling), what + ": fork");
  EXPECT_NE(fork_a.tokens, fork_b.tokens) << what << ": the two branches were meant to diverge";
}

TEST_F(GpuEngine, ForkThenDivergeEqualsIndependentSessions) {
  check_fork_then_diverge(fixture_dir(kLongFixture), {}, "fork on the device");
  // No slot to spare: the fork shares the pages, keeps its lightning states in host memory and
  // takes a slot at its first step.
  EngineOptions tight;
  tight.gpu_sequences = 2;
  tight.gpu_reserved_slots = 1;
  check_fork_then_diverge(fixture_dir(kLongFixture), tight, "fork with its states in host memory");
}

TEST_F(GpuEngine, SavedSessionContinuesBitIdentically) {
  const std::string path = testing::temp_path("m1_gpu_engine_session.m1s");
  const testing::RemovedAtExit cleanup{path};
  const std::string dir = fixture_dir(kLongFixture);
  const std::vector<Token> prompt = random_tokens(130, 160, 3);
  const SamplingParams sampling{0.8f, 0, 0.95f, 0.0f, 5};
  Trace never_saved, restored_same_engine;
  {
    std::unique_ptr<Engine> e = open(dir, true);
    ASSERT_TRUE(e);
    SessionId s = e->create_session();
    ASSERT_TRUE(e->append(s, prompt).ok());
    generate(*e, s, 5);
    ASSERT_TRUE(e->save(s, path).ok());
    never_saved = generate(*e, s, 12, sampling);
    Expected<SessionId> again = e->load(path);
    ASSERT_TRUE(again.ok()) << again.status().message();
    restored_same_engine = generate(*e, *again, 12, sampling);
  }
  expect_bit_identical(restored_same_engine, never_saved, "restored in the same engine");
  std::unique_ptr<Engine> restarted = open(dir, true);
  ASSERT_TRUE(restarted);
  Expected<SessionId> s = restarted->load(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  expect_bit_identical(generate(*restarted, *s, 12, sampling), never_saved, "restored in a new engine");
  // A GPU session file says where it belongs when given to the CPU engine.
  std::unique_ptr<Engine> cpu = open(dir, false);
  ASSERT_TRUE(cpu);
  Expected<SessionId> on_cpu = cpu->load(path);
  ASSERT_FALSE(on_cpu.ok());
  EXPECT_NE(on_cpu.status().message().find("sequence memory"), std::string::npos) << on_cpu.status().message();
}

TEST_F(GpuEngine, PrefixCacheReusesTheSnapshot) {
  const std::string dir = fixture_dir(kLongFixture);
  const std::vector<Token> prefix = random_tokens(150, 160, 4), suffix = random_tokens(70, 160, 5);
  std::unique_ptr<Engine> cached = open(dir, true);
  ASSERT_TRUE(cached);
  SessionId first = cached->create_session();
  ASSERT_TRUE(cached->append(first, prefix).ok());  // snapshot after 149 tokens
  SessionId second = cached->create_session();
  const EngineStats before = cached->stats();
  ASSERT_TRUE(cached->append(second, concat(prefix, suffix)).ok());
  EXPECT_EQ(cached->stats().tokens_reused - before.tokens_reused, 149u);
  EXPECT_EQ(cached->stats().tokens_computed - before.tokens_computed, 70u);
  EXPECT_GE(cached->stats().snapshots[int(Tier::device)], 1u);
  const Trace from_cache = generate(*cached, second, 12);
  // The same chunks without a cache: 149 tokens, then the other 70.
  EngineOptions no_cache;
  no_cache.state_cache = false;
  std::unique_ptr<Engine> plain = open(dir, true, no_cache);
  ASSERT_TRUE(plain);
  SessionId s = plain->create_session();
  ASSERT_TRUE(plain->append(s, prefix).ok());
  ASSERT_TRUE(plain->append(s, suffix).ok());
  expect_bit_identical(from_cache, generate(*plain, s, 12), "cached prefix vs the same chunks");
}

TEST_F(GpuEngine, SnapshotsShareFullKvPages) {
  std::unique_ptr<Engine> e = open(fixture_dir(kLongFixture), true);
  ASSERT_TRUE(e);
  SessionId s = e->create_session();
  size_t sum = 0, last = 0;
  for (unsigned turn = 0; turn < 3; ++turn) {
    ASSERT_TRUE(e->append(s, random_tokens(100, 160, 20 + turn)).ok());
    last = e->session_info(s)->state_bytes;
    sum += last;
    generate(*e, s, 3);
  }
  const EngineStats st = e->stats();
  EXPECT_EQ(st.snapshots[int(Tier::device)], 3u);
  EXPECT_GE(st.cache_bytes.device, last);
  EXPECT_LT(st.cache_bytes.device, sum);
}

TEST_F(GpuEngine, BatchedSessionsAllFinish) {
  EngineOptions o;
  o.step_budget = {4096, 16};
  std::unique_ptr<Engine> e = open(fixture_dir(kLongFixture), true, o);
  ASSERT_TRUE(e);
  std::vector<SessionId> sessions;
  for (unsigned i = 0; i < 4; ++i) {
    sessions.push_back(e->create_session());
    ASSERT_TRUE(e->append(sessions.back(), random_tokens(40 + 10 * i, 160, 30 + i)).ok());
  }
  std::vector<std::thread> threads;
  std::vector<Trace> traces(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i)
    threads.emplace_back([&, i] { traces[i] = generate(*e, sessions[i], 10); });
  for (std::thread & t : threads) t.join();
  for (const Trace & t : traces) EXPECT_EQ(t.tokens.size(), 10u);
  EXPECT_GT(e->stats().max_step_sequences, 1u) << "decode steps of the four sessions were never batched";
}

// Four sessions taking turns on two slots: each turn moves the least recently run session to host
// bytes and back, which must change nothing.
TEST_F(GpuEngine, MoreSessionsThanSlotsContinueBitIdentically) {
  auto run = [](int slots) {
    EngineOptions o;
    o.state_cache = false;
    o.gpu_sequences = slots;
    o.gpu_reserved_slots = 0;
    std::unique_ptr<Engine> e = open(fixture_dir(kLongFixture), true, o);
    std::vector<Trace> traces;
    if (!e) return traces;
    std::vector<SessionId> sessions;
    for (int i = 0; i < 4; ++i) sessions.push_back(e->create_session());
    for (unsigned round = 0; round < 3; ++round) {
      for (size_t i = 0; i < sessions.size(); ++i) {
        EXPECT_TRUE(e->append(sessions[i], random_tokens(30 + 17 * i, 160, 100 * round + unsigned(i))).ok());
        traces.push_back(generate(*e, sessions[i], 4, {0.7f, 0, 1.0f, 0.0f, 40 + round}));
      }
    }
    return traces;
  };
  const std::vector<Trace> two = run(2), plenty = run(16);
  ASSERT_EQ(two.size(), 12u);
  ASSERT_EQ(plenty.size(), 12u);
  for (size_t i = 0; i < two.size(); ++i) expect_bit_identical(two[i], plenty[i], "turn " + std::to_string(i));
}

TEST_F(GpuEngine, OutOfSlotsAndPagesSayWhatToRaise) {
  const std::string dir = fixture_dir(kLongFixture);
  GpuSequenceModelOptions one_slot;
  one_slot.max_sequences = 1;
  one_slot.reserved_slots = 0;
  auto model = GpuSequenceModel::open(dir, one_slot);
  ASSERT_TRUE(model.ok()) << model.status().message();
  std::unique_ptr<SequenceState> a = (*model)->new_state(), b = (*model)->new_state();
  const std::vector<Token> tokens = random_tokens(10, 160, 6);
  std::vector<SequenceModel::Item> batch(2);
  batch[0].state = a.get(), batch[0].tokens = tokens;
  batch[1].state = b.get(), batch[1].tokens = tokens;
  Status both = (*model)->forward(batch);
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.message().find("slots"), std::string::npos) << both.message();
  EXPECT_EQ(both.message().find('\n'), std::string::npos);

  EngineOptions few_pages;
  few_pages.state_cache = false;
  few_pages.gpu_cached_tokens = 64;
  few_pages.gpu_sequences = 1;
  few_pages.gpu_reserved_slots = 0;
  std::unique_ptr<Engine> e = open(dir, true, few_pages);
  ASSERT_TRUE(e);
  SessionId s = e->create_session();
  Status long_append = e->append(s, random_tokens(400, 160, 8));
  ASSERT_FALSE(long_append.ok());
  EXPECT_NE(long_append.message().find("K/V pages"), std::string::npos) << long_append.message();
}

// Serialized bytes restore to a state that serializes to the same bytes; forks (on the device,
// and with pages only when no slot is spare) hold the same bytes, share the full page, and continue
// exactly as the original does.
TEST_F(GpuEngine, StateBytesAndForksRoundTrip) {
  GpuSequenceModelOptions options;
  options.max_sequences = 3;
  options.reserved_slots = 1;
  auto model = GpuSequenceModel::open(fixture_dir(kLongFixture), options);
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto step = [&](SequenceState & state, const std::vector<Token> & tokens) {
    SequenceModel::Item item;
    item.state = &state, item.tokens = tokens;
    Status s = (*model)->forward(std::span<const SequenceModel::Item>(&item, 1));
    EXPECT_TRUE(s.ok()) << s.message();
  };
  std::unique_ptr<SequenceState> state = (*model)->new_state();
  step(*state, random_tokens(100, 160, 9));
  const Expected<std::vector<std::uint8_t>> saved = state->serialize();
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  const std::vector<std::uint8_t> & bytes = *saved;
  ASSERT_FALSE(bytes.empty());
  auto restored = (*model)->deserialize_state(bytes);
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_EQ((*restored)->n_tokens(), 100u);
  EXPECT_EQ(*(*restored)->serialize(), bytes);
  restored->reset();
  Expected<std::unique_ptr<SequenceState>> first_fork = state->fork(), second_fork = state->fork();
  ASSERT_TRUE(first_fork.ok() && second_fork.ok());
  std::unique_ptr<SequenceState> on_device = std::move(*first_fork), pages_only = std::move(*second_fork);
  EXPECT_TRUE(static_cast<GpuSequenceState &>(*on_device).on_device());
  EXPECT_FALSE(static_cast<GpuSequenceState &>(*pages_only).on_device()) << "no slot was spare for the second fork";
  for (const auto * fork : {&on_device, &pages_only}) {
    EXPECT_EQ(*(*fork)->serialize(), bytes);
    EXPECT_EQ((*fork)->byte_size(), state->byte_size());
    std::vector<const void * > mine, theirs;
    state->visit_shared_blocks([&](const void * block, size_t) { mine.push_back(block); });
    (*fork)->visit_shared_blocks([&](const void * block, size_t) { theirs.push_back(block); });
    EXPECT_EQ(mine.size(), 1u);  // tokens 0-63; 64-99 are in the copied last page
    EXPECT_EQ(mine, theirs);
  }
  const std::vector<Token> more = random_tokens(40, 160, 10);  // crosses into a third page
  for (SequenceState * s : {state.get(), on_device.get(), pages_only.get()}) step(*s, more);
  EXPECT_EQ(*on_device->serialize(), *state->serialize());
  EXPECT_EQ(*pages_only->serialize(), *state->serialize());
  std::vector<std::uint8_t> corrupt = bytes;
  corrupt[corrupt.size() / 2] ^= 1;
  auto rejected = (*model)->deserialize_state(corrupt);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.status().message().find("checksum"), std::string::npos) << rejected.status().message();
}

}  // namespace
}  // namespace m1

namespace m1 {
namespace {

// Sampling on the device against sampling the same logits on the host: the same GPU forward, so
// the same logits; the device sampler must pick what the CPU sampler picks from the same seeded
// draws (runtime/gpu_sampler.h), and its logprobs agree to fp32 rounding of a log-softmax over
// the vocabulary (the host sums in double, the device in another order): 1e-5 nats.
TEST_F(GpuEngine, DeviceSamplingPicksWhatHostSamplingPicks) {
  EngineOptions host_sampling;
  host_sampling.device_sampling = false;
  std::unique_ptr<Engine> on_device = open(fixture_dir(kLongFixture), true);
  std::unique_ptr<Engine> on_host = open(fixture_dir(kLongFixture), true, host_sampling);
  ASSERT_TRUE(on_device && on_host);
  const std::vector<Token> prompt = random_tokens(200, 160, 41);
  std::vector<SamplingParams> settings(3);
  settings[1].temperature = 1.0f, settings[1].top_p = 0.95f, settings[1].seed = 7;
  settings[2].temperature = 0.7f, settings[2].top_k = 20, settings[2].min_p = 0.05f, settings[2].seed = 9;
  for (size_t k = 0; k < settings.size(); ++k) {
    SessionId a = on_device->create_session(), b = on_host->create_session();
    ASSERT_TRUE(on_device->append(a, prompt).ok());
    ASSERT_TRUE(on_host->append(b, prompt).ok());
    const Trace d = generate(*on_device, a, 24, settings[k], 3), h = generate(*on_host, b, 24, settings[k], 3);
    EXPECT_EQ(d.tokens, h.tokens) << "setting " << k;
    ASSERT_EQ(d.logprobs.size(), h.logprobs.size());
    for (size_t i = 0; i < d.logprobs.size(); ++i) {
      EXPECT_NEAR(d.logprobs[i], h.logprobs[i], 1e-5) << "setting " << k << " token " << i;
      ASSERT_EQ(d.top[i].size(), h.top[i].size());
      for (size_t j = 0; j < d.top[i].size(); ++j) EXPECT_EQ(d.top[i][j].id, h.top[i][j].id) << "token " << i;
    }
  }
}

}  // namespace
}  // namespace m1
