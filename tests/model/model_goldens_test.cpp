// Every golden fixture (tests/data/model, from patched float64 transformers) through the library
// API and through `m1 logits`: one-shot prefill, chunked prefill with several chunk sizes (1
// included), prefill followed by token-by-token decode, batches mixing sequences at different
// stages, several lightning block sizes, and memories copied or restored mid-sequence.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "model/model.h"
#include "tests/common/run_command.h"
#include "tests/model/golden_fixtures.h"

namespace {

using m1::LogitRows;
using m1::Model;
using m1::SequenceInput;
using m1::SequenceMemory;
using m1::test::expect_logits_match;

class ModelGoldens : public ::testing::Test {
protected:
  void SetUp() override { fixtures_ = m1::test::load_golden_fixtures(); ASSERT_EQ(fixtures_.size(), 4u); }

  static std::unique_ptr<Model> open(const m1::test::GoldenFixture & fx, int threads = 2) {
    auto model = Model::open(fx.folder, m1::ModelOptions{threads, 0});
    EXPECT_TRUE(model.ok()) << model.status().message();
    return model ? std::move(model).value() : nullptr;
  }

  // Feeds `tokens` through `memory` in chunks of `chunk`, collecting every position's logits.
  static std::vector<float> chunked(Model & model, SequenceMemory & memory, std::span<const int32_t> tokens, size_t chunk) {
    return m1::test::forward_in_chunks<SequenceInput>(model, memory, tokens, chunk);
  }


  std::vector<m1::test::GoldenFixture> fixtures_;
};

TEST_F(ModelGoldens, OneShotAndChunkedPrefill) {
  for (const auto & fx : fixtures_) {
    auto model = open(fx);
    ASSERT_TRUE(model);
    for (size_t s = 0; s < fx.sequences.size(); ++s) {
      const auto & seq = fx.sequences[s];
      const int n = int(seq.tokens.size());
      for (size_t chunk : {size_t(n), size_t(1), size_t(2), size_t(3), size_t(16), size_t(17), size_t(257)}) {
        SequenceMemory memory = model->new_memory();
        expect_logits_match(chunked(*model, memory, seq.tokens, chunk), seq.logits, fx.vocab, 0, n,
                            fx.name + " seq " + std::to_string(s) + " chunk " + std::to_string(chunk));
        EXPECT_EQ(memory.n_tokens(), n);
      }
    }
  }
}

TEST_F(ModelGoldens, PrefillThenDecodeWithLastPositionLogits) {
  for (const auto & fx : fixtures_) {
    auto model = open(fx);
    ASSERT_TRUE(model);
    const auto & seq = fx.sequences[0];
    const int n = int(seq.tokens.size()), prefill = n / 3;
    SequenceMemory memory = model->new_memory();
    SequenceInput in{&memory, std::span<const int32_t>(seq.tokens).first(prefill), LogitRows::last};
    auto out = model->forward(std::span<const SequenceInput>(&in, 1));
    ASSERT_TRUE(out.ok()) << out.status().message();
    expect_logits_match((*out)[0].values, seq.logits, fx.vocab, prefill - 1, 1, fx.name + " prefill");
    for (int t = prefill; t < n; ++t) {
      SequenceInput step{&memory, std::span<const int32_t>(seq.tokens).subspan(t, 1), LogitRows::last};
      auto logits = model->forward(std::span<const SequenceInput>(&step, 1));
      ASSERT_TRUE(logits.ok()) << logits.status().message();
      expect_logits_match((*logits)[0].values, seq.logits, fx.vocab, t, 1, fx.name + " decode");
    }
  }
}

TEST_F(ModelGoldens, LightningBlockSizeDoesNotChangeLogits) {
  for (const auto & fx : fixtures_) {
    auto model = open(fx);
    ASSERT_TRUE(model);
    const auto & seq = fx.sequences[0];
    for (int block : {1, 3, 7, 64, 256}) {
      model->set_lightning_block(block);
      SequenceMemory memory = model->new_memory();
      expect_logits_match(chunked(*model, memory, seq.tokens, seq.tokens.size()), seq.logits, fx.vocab, 0,
                          int(seq.tokens.size()), fx.name + " block " + std::to_string(block));
    }
  }
}

// One batch holds a sequence in prefill (chunks of 5) and one decoding token by token, plus an
// idle sequence that asks for nothing: each must match its solo golden.
TEST_F(ModelGoldens, BatchedSequencesAtDifferentStagesMatchSolo) {
  for (const auto & fx : fixtures_) {
    auto model = open(fx);
    ASSERT_TRUE(model);
    const auto & a = fx.sequences[0], & b = fx.sequences[1];
    SequenceMemory ma = model->new_memory(), mb = model->new_memory(), idle = model->new_memory();
    size_t pa = 0, pb = 0;
    std::vector<float> la, lb;
    while (pa < a.tokens.size() || pb < b.tokens.size()) {
      const size_t na = std::min<size_t>(5, a.tokens.size() - pa), nb = std::min<size_t>(1, b.tokens.size() - pb);
      std::vector<SequenceInput> batch = {
          {&ma, std::span<const int32_t>(a.tokens).subspan(pa, na), na ? LogitRows::all : LogitRows::none},
          {&idle, {}, LogitRows::none},
          {&mb, std::span<const int32_t>(b.tokens).subspan(pb, nb), nb ? LogitRows::all : LogitRows::none}};
      auto out = model->forward(batch);
      ASSERT_TRUE(out.ok()) << out.status().message();
      la.insert(la.end(), (*out)[0].values.begin(), (*out)[0].values.end());
      lb.insert(lb.end(), (*out)[2].values.begin(), (*out)[2].values.end());
      EXPECT_EQ((*out)[1].n_rows, 0);
      pa += na;
      pb += nb;
    }
    expect_logits_match(la, a.logits, fx.vocab, 0, int(a.tokens.size()), fx.name + " batched prefill");
    expect_logits_match(lb, b.logits, fx.vocab, 0, int(b.tokens.size()), fx.name + " batched decode");
    EXPECT_EQ(idle.n_tokens(), 0);
  }
}

// A memory copied or serialized and restored mid-sequence continues exactly like the original.
TEST_F(ModelGoldens, CopiedAndRestoredMemoriesContinueIdentically) {
  for (const auto & fx : fixtures_) {
    auto model = open(fx);
    ASSERT_TRUE(model);
    const auto & seq = fx.sequences[0];
    const std::span<const int32_t> tokens(seq.tokens);
    const size_t split = tokens.size() / 2;
    SequenceMemory original = model->new_memory();
    chunked(*model, original, tokens.first(split), split);
    SequenceMemory copy = original;
    auto restored = SequenceMemory::deserialize(original.serialize(), model->memory_shape());
    ASSERT_TRUE(restored.ok()) << restored.status().message();
    EXPECT_EQ(*restored, original);
    const auto rest = tokens.subspan(split);
    const std::vector<float> from_original = chunked(*model, original, rest, 4);
    expect_logits_match(from_original, seq.logits, fx.vocab, int(split), int(rest.size()), fx.name + " continued");
    EXPECT_EQ(chunked(*model, copy, rest, 4), from_original) << fx.name << ": copy diverged";
    EXPECT_EQ(chunked(*model, *restored, rest, 4), from_original) << fx.name << ": restored memory diverged";
  }
}

TEST_F(ModelGoldens, OneThreadAndTwoThreadsBothMatch) {
  const auto & fx = fixtures_[0];
  for (int threads : {1, 2}) {
    auto model = open(fx, threads);
    ASSERT_TRUE(model);
    EXPECT_EQ(model->threads(), threads);
    SequenceMemory memory = model->new_memory();
    const auto & seq = fx.sequences[0];
    expect_logits_match(chunked(*model, memory, seq.tokens, 1), seq.logits, fx.vocab, 0, int(seq.tokens.size()),
                        fx.name + " threads " + std::to_string(threads));
  }
}

TEST_F(ModelGoldens, TokenIdsOutOfRangeAreErrorsAndLeaveMemoriesUntouched) {
  auto model = open(fixtures_[0]);
  ASSERT_TRUE(model);
  SequenceMemory good = model->new_memory(), bad = model->new_memory();
  const std::vector<int32_t> ok_tokens = {1, 2, 3}, bad_tokens = {5, fixtures_[0].vocab, 7}, negative = {-1};
  std::vector<SequenceInput> batch = {{&good, ok_tokens, LogitRows::last}, {&bad, bad_tokens, LogitRows::last}};
  auto out = model->forward(batch);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("token id 256 at position 1 is out of range [0, 256)"), std::string::npos)
      << out.status().message();
  EXPECT_EQ(good.n_tokens(), 0);  // validated before anything ran
  SequenceInput neg{&good, negative, LogitRows::last};
  EXPECT_FALSE(model->forward(std::span<const SequenceInput>(&neg, 1)).ok());
  std::vector<SequenceInput> twice = {{&good, ok_tokens, LogitRows::last}, {&good, ok_tokens, LogitRows::last}};
  EXPECT_FALSE(model->forward(twice).ok());
}

// ---- the same through the command line -------------------------------------------------------

class LogitsCommand : public ModelGoldens {
protected:
  // One file per test: ctest runs the tests of this suite in parallel processes.
  std::string out_path_ = ::testing::TempDir() + "m1_logits_test_" +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".f32";
  m1::test::CommandResult logits(const std::string & model, const std::string & tokens, const std::string & extra = "") {
    return m1::test::run_command(std::string(M1_BINARY) + " logits --model " + model + " --tokens " + tokens +
                                 " --out " + out_path_ + " " + extra);
  }
};

TEST_F(LogitsCommand, EveryFixtureWholeAndChunked) {
  for (const auto & fx : fixtures_) {
    for (size_t s = 0; s < fx.sequences.size(); ++s) {
      for (const std::string chunk : {"", "--chunk 1", "--chunk 3", "--chunk 100"}) {
        auto result = logits(fx.folder, fx.folder + "/tokens_" + std::to_string(s) + ".txt", chunk + " --threads 2");
        ASSERT_EQ(result.exit_code, 0) << result.err;
        expect_logits_match(m1::test::read_floats(out_path_), fx.sequences[s].logits, fx.vocab, 0,
                            int(fx.sequences[s].tokens.size()), fx.name + " m1 logits " + chunk);
      }
    }
  }
}

TEST_F(LogitsCommand, BadInputsAreOneLineErrors) {
  const std::string dir = ::testing::TempDir() + "m1_logits_bad";
  std::filesystem::create_directories(dir);
  const auto & fx = fixtures_[0];
  auto write = [&](const std::string & name, const std::string & text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  struct Case { std::string model, tokens, expected; };
  const std::vector<Case> cases = {
      {fx.folder, write("big.txt", "1 2 256\n"), "token id 256 at position 2 is out of range [0, 256)"},
      {fx.folder, write("word.txt", "1 two 3\n"), "token 1 is \"two\", not a non-negative integer id"},
      {fx.folder, write("empty.txt", "\n"), "no token ids"},
      {dir + "/no_such_model", write("ok.txt", "1 2\n"), "config.json: cannot open"},
  };
  for (const Case & c : cases) {
    auto result = logits(c.model, c.tokens);
    EXPECT_NE(result.exit_code, 0);
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_EQ(result.err.rfind("m1: logits: ", 0), 0u) << result.err;
    EXPECT_NE(result.err.find(c.expected), std::string::npos) << result.err;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
