// m1::Engine over the real CPU M1 network: a small random M1-shaped checkpoint (written by the
// model layer's random checkpoint writer) with the GPT-2-shaped test tokenizer.
//
// Oracles: the model's own one-shot forward over the whole token sequence (all logit rows), and
// runs of the engine along plainer paths. Where the two sides run the same arithmetic in the
// same order (same chunks, same batch composition) results must be bit-identical; where chunk
// boundaries differ (the lightning layers' block-wise prefill sums in another order) relative
// error <= 1e-5 on logprobs (fp32 accumulation over a few hundred tokens).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

#include "model/model.h"
#include "model/random_checkpoint.h"
#include "model/tokenizer.h"
#include "runtime/engine.h"
#include "runtime/sampling.h"

namespace m1 {
namespace {

namespace fs = std::filesystem;

// 9 layers (layer 7 softmax, the rest lightning), vocab 2048 >= the tokenizer's 2000 ids, a
// lightning block of 16 so prefills span several blocks, and KV pages (64 tokens) fill and split.
const std::string & model_dir() {
  static const std::string dir = [] {
    const fs::path d = fs::temp_directory_path() / "m1_engine_model_test";
    fs::remove_all(d);
    M1Dimensions dims{2048, 64, 9, 4, 2, 16, 8, 4, 2, 64, 16};
    ModelConfig config = m1_shaped_config(dims);
    RandomCheckpointOptions options;
    options.seed = 7;
    options.dialect = ConfigDialect::transformers;  // carries block_size
    Status written = write_random_checkpoint(d.string(), config, options);
    EXPECT_TRUE(written.ok()) << written.message();
    fs::copy_file(fs::path(M1_TEST_DATA_DIR) / "tokenizer/gpt2.tokenizer.json", d / "tokenizer.json");
    return d.string();
  }();
  return dir;
}

std::unique_ptr<Engine> open_engine(EngineOptions o = {}) {
  o.model_dir = model_dir();
  o.threads = 1;
  if (o.step_budget.max_tokens == StepBudget{}.max_tokens) o.step_budget.max_tokens = 4096;  // whole prefills
  auto engine = Engine::open(o);
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  return std::move(*engine);
}

std::vector<Token> random_tokens(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<Token> t(n);
  for (Token & x : t) x = Token(4 + gen() % 1996);  // defined, not special
  return t;
}

std::vector<Token> concat(std::vector<Token> a, const std::vector<Token> & b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Trace {
  std::vector<Token> tokens;
  std::vector<float> logprobs;
  std::string text;
};

Trace generate(Engine & e, SessionId s, int n, SamplingParams sampling = {}) {
  GenerateRequest r;
  r.max_tokens = n;
  r.sampling = sampling;
  r.stop_at_eos = false;
  Trace t;
  auto result = e.generate(s, r, [&](const TokenEvent & ev) {
    t.text += ev.text;
    if (ev.token == TokenEvent::kNoToken) return;
    t.tokens.push_back(ev.token);
    t.logprobs.push_back(ev.logprob);
  });
  EXPECT_TRUE(result.ok()) << result.status().message();
  return t;
}

Trace run_fresh(const std::vector<Token> & prompt, int n, SamplingParams sampling = {}) {
  EngineOptions o;
  o.state_cache = false;
  std::unique_ptr<Engine> e = open_engine(o);
  SessionId s = e->create_session();
  EXPECT_TRUE(e->append(s, prompt).ok());
  return generate(*e, s, n, sampling);
}

void expect_bit_identical(const Trace & a, const Trace & b) {
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
  for (size_t i = 0; i < a.logprobs.size(); ++i) EXPECT_EQ(a.logprobs[i], b.logprobs[i]) << "token " << i;
}

// fp32 sums over a few hundred tokens in another order: relative error <= 1e-5.
void expect_close(const Trace & a, const Trace & b) {
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
  for (size_t i = 0; i < a.logprobs.size(); ++i)
    EXPECT_LE(std::fabs(a.logprobs[i] - b.logprobs[i]), 1e-5 * std::max(1.0f, std::fabs(b.logprobs[i])))
        << "token " << i << ": " << a.logprobs[i] << " vs " << b.logprobs[i];
}

// The independent oracle: one forward of the model over prompt + generated tokens with every
// logit row; each generated token must be the argmax of the row before it (greedy) and its
// logprob the log-softmax of that row over the tokenizer's ids.
void expect_matches_one_shot_forward(const std::vector<Token> & prompt, const Trace & generated, const TokenMask & mask) {
  auto model = Model::open(model_dir(), {1, 0});
  ASSERT_TRUE(model.ok());
  SequenceMemory memory = (*model)->new_memory();
  const std::vector<Token> all = concat(prompt, generated.tokens);
  SequenceInput in{&memory, all, LogitRows::all};
  auto logits = (*model)->forward(std::span<const SequenceInput>(&in, 1));
  ASSERT_TRUE(logits.ok());
  const int vocab = (*logits)[0].vocab;
  for (size_t i = 0; i < generated.tokens.size(); ++i) {
    const std::span<const float> row((*logits)[0].values.data() + (prompt.size() - 1 + i) * size_t(vocab), size_t(vocab));
    const std::vector<float> lp = log_softmax(row, mask);
    const Token best = Token(std::max_element(lp.begin(), lp.end()) - lp.begin());
    EXPECT_EQ(generated.tokens[i], best) << "token " << i;
    EXPECT_LE(std::fabs(generated.logprobs[i] - lp[size_t(best)]), 1e-5 * std::max(1.0f, std::fabs(lp[size_t(best)])));
  }
}

TEST(EngineModel, CachedPrefixPlusSuffixEqualsFullPrefill) {
  std::unique_ptr<Engine> e = open_engine();
  const std::vector<Token> prefix = random_tokens(150, 1), suffix = random_tokens(70, 2);
  SessionId first = e->create_session();
  ASSERT_TRUE(e->append(first, prefix).ok());  // snapshot after 149 tokens
  SessionId second = e->create_session();
  const EngineStats before = e->stats();
  ASSERT_TRUE(e->append(second, concat(prefix, suffix)).ok());
  EXPECT_EQ(e->stats().tokens_reused - before.tokens_reused, 149u);
  EXPECT_EQ(e->stats().tokens_computed - before.tokens_computed, 70u);
  const Trace cached = generate(*e, second, 12);
  expect_close(cached, run_fresh(concat(prefix, suffix), 12));
  expect_matches_one_shot_forward(concat(prefix, suffix), cached, e->generable_ids());
}

TEST(EngineModel, MultiTurnSessionEqualsOneShotForward) {
  std::unique_ptr<Engine> e = open_engine();
  SessionId s = e->create_session();
  std::vector<Token> history;
  for (unsigned turn = 0; turn < 3; ++turn) {
    const std::vector<Token> user = random_tokens(40 + 30 * turn, 10 + turn);
    ASSERT_TRUE(e->append(s, user).ok());
    history = concat(history, user);
    const Trace t = generate(*e, s, 6);
    expect_matches_one_shot_forward(history, t, e->generable_ids());
    history = concat(history, t.tokens);
  }
}

TEST(EngineModel, RestoredFromDiskEqualsNeverSaved) {
  const std::string path = (fs::temp_directory_path() / "m1_engine_model_session.m1s").string();
  const std::vector<Token> prompt = random_tokens(130, 3);
  Trace never_saved;
  {
    std::unique_ptr<Engine> e = open_engine();
    SessionId s = e->create_session();
    ASSERT_TRUE(e->append(s, prompt).ok());
    generate(*e, s, 5);
    ASSERT_TRUE(e->save(s, path).ok());
    never_saved = generate(*e, s, 10);
  }
  std::unique_ptr<Engine> restarted = open_engine();
  Expected<SessionId> s = restarted->load(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  expect_bit_identical(generate(*restarted, *s, 10), never_saved);
}

TEST(EngineModel, BatchedEqualsSolo) {
  EngineOptions o;
  o.step_budget = {4096, 16};
  std::unique_ptr<Engine> e = open_engine(o);
  const int n = 3;
  std::vector<std::vector<Token>> prompts;
  for (int i = 0; i < n; ++i) prompts.push_back(random_tokens(60 + 25 * size_t(i), 20 + unsigned(i)));
  std::vector<Trace> batched(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      SessionId s = e->create_session();
      EXPECT_TRUE(e->append(s, prompts[size_t(i)]).ok());
      batched[size_t(i)] = generate(*e, s, 32);
    });
  for (std::thread & t : threads) t.join();
  EXPECT_GT(e->stats().max_step_sequences, 1u);
  // Prefill chunks are the same whole prompts; decode rows of several sessions share GEMMs.
  for (int i = 0; i < n; ++i) expect_close(batched[size_t(i)], run_fresh(prompts[size_t(i)], 32));
}

TEST(EngineModel, ChunkedPrefillUnderASmallStepBudgetEqualsWhole) {
  EngineOptions o;
  o.step_budget = {40, 8};  // a 300-token prompt in 40-token chunks
  std::unique_ptr<Engine> e = open_engine(o);
  const std::vector<Token> prompt = random_tokens(300, 4);
  SessionId s = e->create_session();
  ASSERT_TRUE(e->append(s, prompt).ok());
  expect_close(generate(*e, s, 8), run_fresh(prompt, 8));
}

TEST(EngineModel, ForkThenDivergeEqualsTwoIndependentSessions) {
  std::unique_ptr<Engine> e = open_engine();
  const std::vector<Token> shared = random_tokens(100, 5), left = random_tokens(30, 6), right = random_tokens(45, 7);
  SessionId a = e->create_session();
  ASSERT_TRUE(e->append(a, shared).ok());
  Expected<SessionId> b = e->fork(a);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(e->append(a, left).ok());
  ASSERT_TRUE(e->append(*b, right).ok());
  const Trace ta = generate(*e, a, 8), tb = generate(*e, *b, 8);
  // Independent sessions with the same chunks: shared, then the branch. No cache, so neither
  // can borrow from the other.
  auto independent = [&](const std::vector<Token> & branch) {
    EngineOptions o;
    o.state_cache = false;
    std::unique_ptr<Engine> fresh = open_engine(o);
    SessionId s = fresh->create_session();
    EXPECT_TRUE(fresh->append(s, shared).ok());
    EXPECT_TRUE(fresh->append(s, branch).ok());
    return generate(*fresh, s, 8);
  };
  expect_bit_identical(ta, independent(left));
  expect_bit_identical(tb, independent(right));
}

TEST(EngineModel, EvictionAndReloadUnderATinyBudgetKeepResultsIdentical) {
  const std::string dir = (fs::temp_directory_path() / "m1_engine_model_evict").string();
  fs::remove_all(dir);
  const std::vector<Token> system = random_tokens(90, 8);
  std::vector<std::vector<Token>> prompts;
  for (unsigned i = 0; i < 4; ++i) prompts.push_back(concat(system, random_tokens(20 + 5 * i, 30 + i)));
  // Reference: a roomy cache, every snapshot stays live in the device tier.
  std::vector<Trace> roomy;
  {
    std::unique_ptr<Engine> e = open_engine();
    for (const auto & p : prompts) {
      SessionId s = e->create_session();
      ASSERT_TRUE(e->append(s, p).ok());
    }
    for (const auto & p : prompts) {
      SessionId s = e->create_session();
      ASSERT_TRUE(e->append(s, p).ok());
      roomy.push_back(generate(*e, s, 6));
    }
  }
  EngineOptions tiny;
  tiny.cache_budgets = {1, 1, size_t(1) << 30};  // every snapshot goes straight through to disk
  tiny.state_dir = dir;
  {
    std::unique_ptr<Engine> e = open_engine(tiny);
    for (const auto & p : prompts) {
      SessionId s = e->create_session();
      ASSERT_TRUE(e->append(s, p).ok());
    }
    EXPECT_EQ(e->stats().cache_bytes.device, 0u);
    EXPECT_GT(e->stats().cache_bytes.disk, 0u);
  }
  std::unique_ptr<Engine> e = open_engine(tiny);  // a restart: only the disk tier is left
  for (size_t i = 0; i < prompts.size(); ++i) {
    SessionId s = e->create_session();
    const EngineStats before = e->stats();
    ASSERT_TRUE(e->append(s, prompts[i]).ok());
    EXPECT_EQ(e->stats().tokens_reused - before.tokens_reused, prompts[i].size() - 1);
    expect_bit_identical(generate(*e, s, 6), roomy[i]);
  }
}

TEST(EngineModel, SeededSamplingIsReproducibleAndTextIsTheDecodedTokens) {
  std::unique_ptr<Engine> e = open_engine();
  const std::vector<Token> prompt = random_tokens(50, 9);
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_k = 50;
  p.top_p = 0.95f;
  p.seed = 1234;
  auto run = [&](std::uint64_t seed) {
    p.seed = seed;
    SessionId s = e->create_session();
    EXPECT_TRUE(e->append(s, prompt).ok());
    return generate(*e, s, 24, p);
  };
  const Trace a = run(1234), b = run(1234), c = run(99);
  expect_bit_identical(a, b);
  EXPECT_NE(a.tokens, c.tokens);
  EXPECT_EQ(a.text, e->tokenizer()->decode(a.tokens, /*skip_special_tokens=*/true));
  for (Token t : a.tokens) EXPECT_TRUE(e->tokenizer()->is_defined(t)) << t;  // ids 2000..2047 are masked
}

}  // namespace
}  // namespace m1
