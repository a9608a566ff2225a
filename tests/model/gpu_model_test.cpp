// The GPU forward (bf16 weights and GEMM inputs, fp32 accumulation, residual stream, router and LM head)
// against the float64 transformers goldens of tests/data/model, against itself (chunked prefill
// and decode vs one-shot) and against the CPU model, through the library and `m1 logits --device
// cuda`. Skipped, with the reason, without a CUDA build or device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include "model/gpu_model.h"
#include "model/model.h"
#include "tests/common/run_command.h"
#include "tests/kernels/gpu_test_support.h"
#include "tests/model/golden_fixtures.h"

namespace {

using m1::GpuMemory;
using m1::GpuModel;
using m1::GpuSequenceInput;
using m1::LogitRows;

// The bar for the GPU (bf16 weights and GEMM inputs, fp32 accumulation, fp32 residual
// stream, router and LM head) against the float64 goldens: every position within 2e-2 relative
// error, argmax agreeing at >= 99% of positions. Why that holds: a bf16 GEMM input costs one
// rounding (<= 2^-9 relative), and the few bf16 stores between a layer's input and its fp32 branch
// output add a few 1e-3 to each branch; the fp32 residual stream does not compound them (alpha
// ~3.6 times each layer's rounding, as the bf16 stream this path had before did). The fp16
// fixture's weights also lose 3 mantissa bits on the way to the device (bf16 weights are the
// spec): ~9e-3 on their own. Measured on H100 (2026-11-27): worst 5.9e-3 on the bf16 fixtures,
// 1.03e-2 on the fp16 one.
//
// Routing decides where that holds: bf16 GEMM inputs move a router-logit gap (the k-th vs the
// (k+1)-th expert) by 4e-3 to 1e-2 at a typical position (tests/reference/gpu_precision_model.py),
// so a position whose float64 gap is smaller may take another expert, and a row 5-35% off (0.34
// was measured where a gap of 1.45e-3 flipped). The two short fixtures are drawn with every gap
// at or above 3e-2 (make_model_goldens.py, bf16_safe_routing); the long and the 8-expert ones
// cannot be (20 and 5 positions under 2e-2 in every draw tried), and 2 of their 709 positions have
// a gap under kUndecidedGap (tests/data/model/*/router_gaps_*.f32). Those are held to the same
// 2e-2 (measured: 3.0e-3 at worst) and reported apart, with their count bounded: if a change makes
// one of them flip, the cause is that position's routing, not a broken layer (which moves every
// position, far past 2e-2).
//
// Argmax: orig_three_shards_long's sequence 0 has positions whose top-2 logits differ by 2.6e-5 of
// the row norm, under bf16 noise, so a few of its 530 may disagree: 99% allows 7 of 709.
constexpr double kGpuTolerance = 2e-2;
constexpr double kArgmaxAgreement = 0.99;
constexpr double kUndecidedGap = 5e-3;

// Per-position comparison that accumulates over calls, per fixture (the first word of `what`) and
// in all: worst relative error of the decided positions and, apart, of the undecided ones (both held
// to kGpuTolerance), argmax matches, undecided positions.
struct Agreement {
  struct Tally {
    double worst = 0, worst_undecided = 0;
    int positions = 0, argmax_same = 0, undecided = 0;
  };
  Tally all;
  std::map<std::string, Tally> per_fixture;

  // `gaps`: the golden sequence's router gaps, indexed by position (empty: none undecided).
  void add(const std::vector<float> & actual, const std::vector<float> & expected, int vocab, int first_row,
           int n_rows, const std::string & what, const std::vector<float> & gaps) {
    ASSERT_EQ(actual.size(), size_t(n_rows) * vocab) << what;
    Tally & fixture = per_fixture[what.substr(0, what.find(' '))];
    for (int r = 0; r < n_rows; ++r) {
      const int position = first_row + r;
      const float * a = actual.data() + size_t(r) * vocab;
      const float * b = expected.data() + size_t(position) * vocab;
      double num = 0, den = 0;
      for (int j = 0; j < vocab; ++j) {
        num += double(a[j] - b[j]) * (a[j] - b[j]);
        den += double(b[j]) * b[j];
      }
      const double err = std::isnan(num) ? 1e9 : std::sqrt(num / den);
      const bool undecided = !gaps.empty() && gaps[size_t(position)] < kUndecidedGap;
      const double gap = gaps.empty() ? 0.0 : gaps[size_t(position)];
      EXPECT_LE(err, kGpuTolerance) << what << ": relative error at position " << position << " (router-logit gap "
                                    << gap << (undecided ? ", under the gap bf16 compute can decide)" : ")");
      const bool same = (std::max_element(a, a + vocab) - a) == (std::max_element(b, b + vocab) - b);
      for (Tally * t : {&all, &fixture}) {
        (undecided ? t->worst_undecided : t->worst) = std::max(undecided ? t->worst_undecided : t->worst, err);
        ++t->positions;
        t->argmax_same += same;
        t->undecided += undecided;
      }
    }
  }
  void expect_bounds(const std::string & what) const {
    ASSERT_GT(all.positions, 0);
    EXPECT_GE(double(all.argmax_same) / all.positions, kArgmaxAgreement)
        << what << ": argmax agrees at " << all.argmax_same << " of " << all.positions;
    auto print = [&](const std::string & name, const Tally & t) {
      std::printf("%s: %s: worst position %.3e, argmax agreement %d/%d (%.1f%%), undecided positions %d (worst "
                  "%.3e)\n",
                  what.c_str(), name.c_str(), t.worst, t.argmax_same, t.positions, 100.0 * t.argmax_same / t.positions,
                  t.undecided, t.worst_undecided);
    };
    for (const auto & [name, t] : per_fixture) print(name, t);
    print("all", all);
  }
};

class GpuModelGoldens : public ::testing::Test {
protected:
  void SetUp() override {
    const std::string reason = m1::test::gpu_unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    fixtures_ = m1::test::load_golden_fixtures();
    ASSERT_EQ(fixtures_.size(), 4u);
  }

  static std::unique_ptr<GpuModel> open(const m1::test::GoldenFixture & fx, int max_sequences = 4,
                                        bool cuda_graphs = true,
                                        int moe_per_expert_min_tokens = m1::kernels::gpu::kMoePerExpertMinTokens) {
    m1::GpuModelOptions options;
    options.max_sequences = max_sequences;
    options.cuda_graphs = cuda_graphs;
    options.moe_per_expert_min_tokens = moe_per_expert_min_tokens;
    options.max_cached_tokens = 4096;
    auto model = GpuModel::open(fx.folder, options);
    EXPECT_TRUE(model.ok()) << model.status().message();
    return model ? std::move(model).value() : nullptr;
  }

  static GpuMemory memory(GpuModel & model) {
    auto m = model.new_memory();
    EXPECT_TRUE(m.ok()) << m.status().message();
    return m ? std::move(m).value() : GpuMemory();
  }

  // All positions' logits of `tokens` fed in chunks of `chunk`.
  static std::vector<float> chunked(GpuModel & model, GpuMemory & memory, std::span<const int32_t> tokens, size_t chunk) {
    return m1::test::forward_in_chunks<GpuSequenceInput>(model, memory, tokens, chunk);
  }


  // Every fixture sequence prefilled in one forward, each against its goldens, into `all`.
  void one_shot_prefill(Agreement & all, int moe_per_expert_min_tokens) {
    for (const auto & fx : fixtures_) {
      auto model = open(fx, 4, true, moe_per_expert_min_tokens);
      ASSERT_TRUE(model);
      for (size_t s = 0; s < fx.sequences.size(); ++s) {
        const auto & seq = fx.sequences[s];
        GpuMemory m = memory(*model);
        all.add(chunked(*model, m, seq.tokens, seq.tokens.size()), seq.logits, fx.vocab, 0, int(seq.tokens.size()),
                fx.name + " seq " + std::to_string(s), seq.router_gaps);
        EXPECT_EQ(m.n_tokens(), int64_t(seq.tokens.size()));
      }
    }
  }

  std::vector<m1::test::GoldenFixture> fixtures_;
};

// The fixtures' prompts are far below kMoePerExpertMinTokens: the grouped expert kernels.
TEST_F(GpuModelGoldens, OneShotPrefillMatchesFloat64Goldens) {
  Agreement all;
  one_shot_prefill(all, m1::kernels::gpu::kMoePerExpertMinTokens);
  all.expect_bounds("gpu one-shot vs goldens");
}

// The same with the per-expert cuBLAS expert FFNs that large prefills take (threshold 1 token):
// its roundings are the grouped path's (bf16 g, u, silu, product), so the same bounds hold.
TEST_F(GpuModelGoldens, PerExpertMoePrefillMatchesFloat64Goldens) {
  Agreement all;
  one_shot_prefill(all, 1);
  all.expect_bounds("gpu one-shot, per-expert moe, vs goldens");
}

// Chunked prefill (chunk 1 is pure decode, 3 and 17 cross lightning blocks and K/V pages) and
// prefill + decode with last-row logits: each against the goldens and against GPU one-shot.
TEST_F(GpuModelGoldens, ChunkedPrefillAndDecodeMatchOneShotAndGoldens) {
  Agreement goldens, self;
  for (const auto & fx : fixtures_) {
    auto model = open(fx);
    ASSERT_TRUE(model);
    const auto & seq = fx.sequences[0];
    const int n = int(seq.tokens.size());
    GpuMemory whole = memory(*model);
    const std::vector<float> one_shot = chunked(*model, whole, seq.tokens, seq.tokens.size());
    for (size_t chunk : {size_t(1), size_t(3), size_t(17), size_t(100)}) {
      GpuMemory m = memory(*model);
      const std::vector<float> got = chunked(*model, m, seq.tokens, chunk);
      const std::string what = fx.name + " chunk " + std::to_string(chunk);
      goldens.add(got, seq.logits, fx.vocab, 0, n, what, seq.router_gaps);
      self.add(got, one_shot, fx.vocab, 0, n, what + " vs one-shot", seq.router_gaps);
    }
    GpuMemory m = memory(*model);
    const int prefill = n / 3;
    GpuSequenceInput in{&m, std::span<const int32_t>(seq.tokens).first(prefill), LogitRows::last};
    auto out = model->forward(std::span<const GpuSequenceInput>(&in, 1));
    ASSERT_TRUE(out.ok()) << out.status().message();
    goldens.add((*out)[0].values, seq.logits, fx.vocab, prefill - 1, 1, fx.name + " prefill", seq.router_gaps);
    for (int t = prefill; t < n; ++t) {
      GpuSequenceInput step{&m, std::span<const int32_t>(seq.tokens).subspan(t, 1), LogitRows::last};
      auto logits = model->forward(std::span<const GpuSequenceInput>(&step, 1));
      ASSERT_TRUE(logits.ok()) << logits.status().message();
      goldens.add((*logits)[0].values, seq.logits, fx.vocab, t, 1, fx.name + " decode", seq.router_gaps);
      self.add((*logits)[0].values, one_shot, fx.vocab, t, 1, fx.name + " decode vs one-shot", seq.router_gaps);
    }
  }
  goldens.expect_bounds("gpu chunked/decode vs goldens");
  self.expect_bounds("gpu chunked/decode vs gpu one-shot");
}

// One batch: a sequence in prefill chunks of 5, an idle one, one decoding token by token.
TEST_F(GpuModelGoldens, BatchedSequencesAtDifferentStagesMatchGoldens) {
  Agreement all;
  for (const auto & fx : fixtures_) {
    auto model = open(fx);
    ASSERT_TRUE(model);
    const auto & a = fx.sequences[0], & b = fx.sequences[1];
    GpuMemory ma = memory(*model), mb = memory(*model), idle = memory(*model);
    size_t pa = 0, pb = 0;
    std::vector<float> la, lb;
    while (pa < a.tokens.size() || pb < b.tokens.size()) {
      const size_t na = std::min<size_t>(5, a.tokens.size() - pa), nb = std::min<size_t>(1, b.tokens.size() - pb);
      std::vector<GpuSequenceInput> batch = {
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
    all.add(la, a.logits, fx.vocab, 0, int(a.tokens.size()), fx.name + " batched prefill", a.router_gaps);
    all.add(lb, b.logits, fx.vocab, 0, int(b.tokens.size()), fx.name + " batched decode", b.router_gaps);
    EXPECT_EQ(idle.n_tokens(), 0);
  }
  all.expect_bounds("gpu batched vs goldens");
}

// Decode steps replayed from CUDA graphs compute exactly what the same steps launched one by one
// do (same kernels, same order): two sequences of unequal lengths (the same tokens, 5 apart) decode
// together through the direct first step, the capture and the replays, and on the 530-token
// fixture across the context buckets at 256 and 512 tokens, where new graphs are captured.
TEST_F(GpuModelGoldens, DecodeGraphsGiveBitIdenticalLogits) {
  for (const auto & fx : fixtures_) {
    auto graphs = open(fx, 4, true), direct = open(fx, 4, false);
    ASSERT_TRUE(graphs && direct);
    const std::vector<int32_t> & tokens = fx.sequences[0].tokens;
    const size_t n = tokens.size(), start = std::min<size_t>(n / 2, 240), lag = 5;
    GpuMemory ga = memory(*graphs), gb = memory(*graphs), da = memory(*direct), db = memory(*direct);
    auto step = [&](GpuModel & model, GpuMemory & ma, GpuMemory & mb, size_t t, size_t len) {
      const size_t tb = t == 0 ? 0 : t - lag, len_b = t == 0 ? start - lag : 1;
      std::vector<GpuSequenceInput> batch = {{&ma, std::span<const int32_t>(tokens).subspan(t, len), LogitRows::last},
                                             {&mb, std::span<const int32_t>(tokens).subspan(tb, len_b), LogitRows::last}};
      return model.forward(batch);
    };
    for (size_t t = 0; t < n; t = t == 0 ? start : t + 1) {
      const size_t len = t == 0 ? start : 1;
      auto got = step(*graphs, ga, gb, t, len), want = step(*direct, da, db, t, len);
      ASSERT_TRUE(got.ok() && want.ok()) << fx.name;
      for (size_t s = 0; s < 2; ++s)
        ASSERT_EQ((*got)[s].values, (*want)[s].values) << fx.name << " position " << t << " sequence " << s;
    }
    EXPECT_GT(graphs->graph_replays(), int64_t(n - start) / 2) << fx.name;
    EXPECT_EQ(direct->graph_replays(), 0) << fx.name;
  }
}

// The CPU model (fp32, itself within 1e-4 of the goldens) on the same input.
TEST_F(GpuModelGoldens, MatchesCpuModel) {
  Agreement all;
  for (const auto & fx : fixtures_) {
    auto gpu_model = open(fx);
    ASSERT_TRUE(gpu_model);
    auto cpu_model = m1::Model::open(fx.folder, m1::ModelOptions{2, 0});
    ASSERT_TRUE(cpu_model.ok()) << cpu_model.status().message();
    const auto & seq = fx.sequences[0];
    m1::SequenceMemory cpu_memory = (*cpu_model)->new_memory();
    m1::SequenceInput cpu_in{&cpu_memory, seq.tokens, LogitRows::all};
    auto cpu_logits = (*cpu_model)->forward(std::span<const m1::SequenceInput>(&cpu_in, 1));
    ASSERT_TRUE(cpu_logits.ok()) << cpu_logits.status().message();
    GpuMemory m = memory(*gpu_model);
    all.add(chunked(*gpu_model, m, seq.tokens, 7), (*cpu_logits)[0].values, fx.vocab, 0, int(seq.tokens.size()),
            fx.name + " gpu vs cpu", seq.router_gaps);
  }
  all.expect_bounds("gpu vs cpu model");
}

TEST_F(GpuModelGoldens, BadBatchesAreErrorsAndLeaveMemoriesUntouched) {
  auto model = open(fixtures_[0], 2);
  ASSERT_TRUE(model);
  GpuMemory good = memory(*model), other = memory(*model);
  auto third = model->new_memory();
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.status().message().find("sequence slots are in use"), std::string::npos) << third.status().message();
  const std::vector<int32_t> ok_tokens = {1, 2, 3}, bad_tokens = {5, fixtures_[0].vocab, 7};
  std::vector<GpuSequenceInput> batch = {{&good, ok_tokens, LogitRows::last}, {&other, bad_tokens, LogitRows::last}};
  auto out = model->forward(batch);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("token id 256 at position 1 is out of range [0, 256)"), std::string::npos)
      << out.status().message();
  EXPECT_EQ(good.n_tokens(), 0);
  std::vector<GpuSequenceInput> twice = {{&good, ok_tokens, LogitRows::last}, {&good, ok_tokens, LogitRows::last}};
  EXPECT_FALSE(model->forward(twice).ok());
  auto second_model = open(fixtures_[0], 1);
  ASSERT_TRUE(second_model);
  GpuSequenceInput foreign{&good, ok_tokens, LogitRows::last};
  auto wrong = second_model->forward(std::span<const GpuSequenceInput>(&foreign, 1));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("not made by this model"), std::string::npos);
}

TEST_F(GpuModelGoldens, LogitsCommandOnCudaWholeAndChunked) {
  const std::string out_path = ::testing::TempDir() + "m1_gpu_logits_test.f32";
  Agreement all;
  for (const auto & fx : fixtures_) {
    for (const std::string chunk : {"", "--chunk 1", "--chunk 3", "--chunk 100"}) {
      auto result = m1::test::run_command(std::string(M1_BINARY) + " logits --device cuda --model " + fx.folder +
                                          " --tokens " + fx.folder + "/tokens_0.txt --out " + out_path + " " + chunk);
      ASSERT_EQ(result.exit_code, 0) << result.err;
      all.add(m1::test::read_floats(out_path), fx.sequences[0].logits, fx.vocab, 0,
              int(fx.sequences[0].tokens.size()), fx.name + " m1 logits --device cuda " + chunk,
              fx.sequences[0].router_gaps);
    }
  }
  all.expect_bounds("m1 logits --device cuda vs goldens");
}

}  // namespace

namespace {

// Undecided positions stay rare: every golden sequence carries its router gaps, and under 1% of all
// positions fall below kUndecidedGap (2 of 709 when written, none in the two fixtures drawn with
// bf16-safe routing).
TEST(GoldenRouterGaps, FewPositionsAreUndecided) {
  int positions = 0, undecided = 0;
  for (const auto & fx : m1::test::load_golden_fixtures())
    for (const auto & seq : fx.sequences) {
      ASSERT_EQ(seq.router_gaps.size(), seq.tokens.size()) << fx.name;
      positions += int(seq.tokens.size());
      undecided += int(std::count_if(seq.router_gaps.begin(), seq.router_gaps.end(),
                                     [](float gap) { return !(gap >= kUndecidedGap); }));
    }
  EXPECT_GT(positions, 0);
  EXPECT_LE(undecided, positions / 100) << undecided << " of " << positions << " positions have router gaps under "
                                        << kUndecidedGap;
}

// Where no GPU can run (CI), `m1 logits --device cuda` fails with one line that says why.
TEST(LogitsCommandCudaUnavailable, FailsWithOneLineReason) {
  const std::string reason = m1::test::gpu_unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a CUDA device is available: the Gpu suites cover this command";
  const std::string folder = m1::test::golden_root() + "/hf_gqa_partial_rotary";
  auto result = m1::test::run_command(std::string(M1_BINARY) + " logits --device cuda --model " + folder +
                                      " --tokens " + folder + "/tokens_0.txt --out " + ::testing::TempDir() +
                                      "m1_cuda_unavailable.f32");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(result.err.rfind("m1: logits: ", 0), 0u) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

// A device the command cannot use is refused before anything loads, on any machine.
TEST(LogitsCommandDevice, BadDeviceNamesFailWithOneLine) {
  const std::string folder = m1::test::golden_root() + "/hf_gqa_partial_rotary";
  const std::pair<const char *, const char *> cases[] = {{"gpu", "expected cpu, cuda or cuda:N"},
                                                         {"cuda:x", "'x' is not a device index"},
                                                         {"cuda:0,1", "one device at a time"}};
  for (const auto & [device, why] : cases) {
    auto result = m1::test::run_command(std::string(M1_BINARY) + " logits --device " + device + " --model " + folder +
                                        " --tokens " + folder + "/tokens_0.txt --out " + ::testing::TempDir() +
                                        "m1_bad_device.f32");
    EXPECT_NE(result.exit_code, 0) << device;
    EXPECT_EQ(result.err.rfind("m1: logits: ", 0), 0u) << result.err;
    EXPECT_NE(result.err.find(why), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
}

}  // namespace
