// Lightning attention kernels against the token-by-token recurrence of M1_SPEC.md section 4,
//   S_t = lambda S_{t-1} + k_t^T v_t,  o_t = q_t S_t,
// evaluated in float64 on the same bf16 q/k/v and the same fp32 initial states the kernels get.
// Shapes sweep odd lengths, lengths that are not a multiple of the 64-token block, an empty
// sequence, a batch of unequal sequences in permuted state slots, continuation from a state, and
// prefill followed by decode, the sequence split into parallel chunks; decays come from the spec formula at the fastest and slowest heads.
#include "kernels/lightning_attention_gpu.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "tests/kernels/gpu_test_support.h"

namespace {

using m1::kernels::DeviceBuffer;
using m1::kernels::gpu::Bf16;
using m1::test::device_copy;
using m1::test::from_bf16;
using m1::test::host_copy;
using m1::test::relative_error;
using m1::test::to_bf16;

constexpr int kD = 128;
constexpr int kHeads = 4;
constexpr int kRow = 3 * kHeads * kD;  // packed qkv row: per head q, k, v

// Tolerances (bf16 unit roundoff u = 2^-8, rounding error <= u/2 = 2^-9 relative):
// prefill rounds four operands to bf16 on the way to o (S for q S, the decayed scores, the decayed
// keys entering S, and o itself), so ||o - ref|| / ||ref|| <= 4 * 2^-9 = 7.8e-3 without
// cancellation; 1e-2 leaves margin for fp32 accumulation. The state only sees the decayed keys:
// 2^-9 = 2e-3, checked at 4e-3. Decode keeps the state in fp32 and rounds only o: 2^-9, checked at
// 4e-3; its state against the recurrence at 1e-5 (fp32 accumulation over a few steps).
constexpr double kPrefillOutTol = 1e-2;
constexpr double kPrefillStateTol = 4e-3;
constexpr double kDecodeOutTol = 4e-3;
constexpr double kDecodeStateTol = 1e-5;

// s(l, h) of M1_SPEC.md section 4 for the real model's 80 layers and 64 heads.
float spec_decay(int layer, int head) {
  return static_cast<float>(std::pow(2.0, -8.0 * (head + 1) / 64) * (1.0 - layer / 79.0 + 1e-5));
}

// Test heads: fastest decay (layer 0 head 0), a middle one, a slow one, and the last layer's
// nearly-undecayed head 0 (lambda = 1 - 9e-6).
std::vector<float> test_decays() {
  return {spec_decay(0, 0), spec_decay(40, 31), spec_decay(10, 63), spec_decay(79, 0)};
}

// Packed qkv rows: silu of normal values (the layer applies SiLU to q, k and v), rounded to bf16.
std::vector<Bf16> random_qkv(int n_rows, std::mt19937 & rng) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<Bf16> qkv(static_cast<size_t>(n_rows) * kRow);
  for (Bf16 & x : qkv) {
    float z = normal(rng);
    x = to_bf16(z / (1.f + std::exp(-z)));
  }
  return qkv;
}

std::vector<float> random_states(int n_slots, std::mt19937 & rng) {
  std::normal_distribution<float> normal(0.f, 0.5f);
  std::vector<float> states(static_cast<size_t>(n_slots) * kHeads * kD * kD);
  for (float & x : states) x = normal(rng);
  return states;
}

// The float64 recurrence for one (sequence, head): advances `state` over rows [begin, end) of the
// packed qkv and appends o_t to `out`.
void recurrence(const std::vector<Bf16> & qkv, int begin, int end, int head, double lambda,
                std::vector<double> & state, std::vector<double> & out) {
  std::vector<double> q(kD), k(kD), v(kD);
  for (int t = begin; t < end; ++t) {
    const Bf16 * row = qkv.data() + static_cast<size_t>(t) * kRow + head * 3 * kD;
    for (int i = 0; i < kD; ++i) q[i] = from_bf16(row[i]), k[i] = from_bf16(row[kD + i]), v[i] = from_bf16(row[2 * kD + i]);
    for (int i = 0; i < kD; ++i)
      for (int j = 0; j < kD; ++j) state[i * kD + j] = lambda * state[i * kD + j] + k[i] * v[j];
    for (int j = 0; j < kD; ++j) {
      double o = 0;
      for (int i = 0; i < kD; ++i) o += q[i] * state[i * kD + j];
      out.push_back(o);
    }
  }
}

std::vector<double> state_of(const std::vector<float> & pool, int slot, int head) {
  const float * s = pool.data() + (static_cast<size_t>(slot) * kHeads + head) * kD * kD;
  return std::vector<double>(s, s + kD * kD);
}

// Output rows [begin, end) of one head from a bf16 [rows, kHeads * kD] buffer.
std::vector<double> head_rows(const std::vector<Bf16> & out, int begin, int end, int head) {
  std::vector<double> rows;
  for (int t = begin; t < end; ++t)
    for (int j = 0; j < kD; ++j) rows.push_back(from_bf16(out[static_cast<size_t>(t) * kHeads * kD + head * kD + j]));
  return rows;
}

m1::kernels::gpu::LightningInputs packed_inputs(const DeviceBuffer & qkv, int first_row = 0) {
  const Bf16 * base = static_cast<const Bf16 *>(qkv.data()) + static_cast<size_t>(first_row) * kRow;
  return {base, base + kD, base + 2 * kD, kRow, 3 * kD};
}

// Prefill arguments over the test's packed qkv, decays, per-sequence starts and state slots.
m1::kernels::gpu::LightningPrefillArgs prefill_args(int n_seqs, const DeviceBuffer & starts, const DeviceBuffer & qkv,
                                                    const DeviceBuffer & decay, const DeviceBuffer & states,
                                                    const DeviceBuffer & slots, const DeviceBuffer & out) {
  m1::kernels::gpu::LightningPrefillArgs args;
  args.n_seqs = n_seqs;
  args.n_heads = kHeads;
  args.seq_starts = static_cast<const int32_t *>(starts.data());
  args.in = packed_inputs(qkv);
  args.decay = static_cast<const float *>(decay.data());
  args.state = {static_cast<float *>(states.data()), static_cast<const int32_t *>(slots.data())};
  args.out = static_cast<Bf16 *>(out.data());
  args.out_row_stride = kHeads * kD;
  return args;
}

TEST(LightningAttentionGpu, PrefillOfUnequalSequencesMatchesRecurrence) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;

  const std::vector<int> lens = {1, 17, 0, 64, 100, 257, 300};  // odd, empty, one block, not multiples
  const std::vector<int32_t> slots = {3, 0, 6, 5, 1, 2, 4};     // permuted state slots
  const int n_seqs = static_cast<int>(lens.size());
  std::vector<int32_t> starts = {0};
  for (int len : lens) starts.push_back(starts.back() + len);
  const int n_tokens = starts.back();

  std::mt19937 rng(1234);
  std::vector<Bf16> qkv = random_qkv(n_tokens, rng);
  std::vector<float> states = random_states(n_seqs, rng);
  // Sequences in slots 0 and 3 start fresh (zero state); the others continue from a state.
  for (int slot : {0, 3}) std::fill_n(states.begin() + static_cast<size_t>(slot) * kHeads * kD * kD, kHeads * kD * kD, 0.f);
  std::vector<float> decay = test_decays();

  using m1::kernels::gpu::LightningPrefillKernel;
  struct Variant { int value_slice; LightningPrefillKernel kernel; };
  for (Variant variant : {Variant{32, LightningPrefillKernel::kMmaSync}, Variant{64, LightningPrefillKernel::kMmaSync},
                          Variant{64, LightningPrefillKernel::kWgmma}}) {
    const int value_slice = variant.value_slice;
    SCOPED_TRACE("value_slice " + std::to_string(value_slice) +
                 (variant.kernel == LightningPrefillKernel::kWgmma ? " wgmma" : " mma.sync"));
    DeviceBuffer d_qkv = device_copy(qkv), d_starts = device_copy(starts), d_slots = device_copy(slots);
    DeviceBuffer d_states = device_copy(states), d_decay = device_copy(decay);
    DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_tokens) * kHeads * kD, 0xffff));
    ASSERT_NE(d_out.data(), nullptr);

    m1::kernels::gpu::LightningPrefillArgs args = prefill_args(n_seqs, d_starts, d_qkv, d_decay, d_states, d_slots, d_out);
    args.value_slice = value_slice;
    args.kernel = variant.kernel;
    m1::Status status = m1::kernels::gpu::lightning_prefill(args, nullptr);
    ASSERT_TRUE(status.ok()) << status.message();

    std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_tokens) * kHeads * kD);
    std::vector<float> new_states = host_copy<float>(d_states, states.size());
    ASSERT_FALSE(out.empty());
    for (int s = 0; s < n_seqs; ++s) {
      for (int h = 0; h < kHeads; ++h) {
        std::vector<double> state = state_of(states, slots[s], h), want;
        recurrence(qkv, starts[s], starts[s + 1], h, std::exp(-static_cast<double>(decay[h])), state, want);
        if (lens[s] > 0) {
          EXPECT_LE(relative_error(head_rows(out, starts[s], starts[s + 1], h), want), kPrefillOutTol)
              << "sequence " << s << " (length " << lens[s] << ") head " << h;
        }
        std::vector<double> got = state_of(new_states, slots[s], h);
        if (lens[s] == 0) {
          EXPECT_EQ(got, state) << "an empty sequence must leave its state as it was";
        } else {
          EXPECT_LE(relative_error(got, state), kPrefillStateTol) << "state of sequence " << s << " head " << h;
        }
      }
    }
  }
}

// The sequence split: chunks of 128, 192 or 8192 tokens (pinned; 8192 = two 4096-token pieces in
// the chunk-state pass) or the launcher's choice, run on either prefill kernel in parallel from
// start states that a chunk-state pass and a scan compute. Lengths give several chunks with a
// remainder, exactly one chunk, one chunk plus a token, a single block, an empty sequence and a
// long sequence next to short ones; most sequences continue from a nonzero state in permuted slots.
// The workspace is poisoned with NaN so that a start state read before it is written shows. The
// split only reorders fp32 sums (lambda^L S + local instead of block by block), so the unsplit
// tolerances hold. A max_seq_len below the longest sequence must still give the right answer (the
// last chunk then runs to the end), only slower.
TEST(LightningAttentionGpu, SplitPrefillMatchesRecurrence) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;

  const std::vector<int> lens = {1000, 0, 300, 64, 128, 129, 8300, 17};
  const std::vector<int32_t> slots = {5, 0, 7, 2, 6, 1, 3, 4};
  const int n_seqs = static_cast<int>(lens.size());
  std::vector<int32_t> starts = {0};
  for (int len : lens) starts.push_back(starts.back() + len);
  const int n_tokens = starts.back();

  std::mt19937 rng(4321);
  std::vector<Bf16> qkv = random_qkv(n_tokens, rng);
  std::vector<float> states = random_states(n_seqs, rng);
  std::fill_n(states.begin() + static_cast<size_t>(slots[2]) * kHeads * kD * kD, kHeads * kD * kD, 0.f);
  std::vector<float> decay = test_decays();
  std::vector<std::vector<double>> want_out(n_seqs * kHeads), want_state(n_seqs * kHeads);
  for (int s = 0; s < n_seqs; ++s)
    for (int h = 0; h < kHeads; ++h) {
      want_state[s * kHeads + h] = state_of(states, slots[s], h);
      recurrence(qkv, starts[s], starts[s + 1], h, std::exp(-static_cast<double>(decay[h])), want_state[s * kHeads + h],
                 want_out[s * kHeads + h]);
    }

  using m1::kernels::gpu::LightningPrefillKernel;
  struct Variant {
    int chunk_tokens, max_seq_len, value_slice;
    LightningPrefillKernel kernel = LightningPrefillKernel::kAuto;
  };
  for (Variant variant : {Variant{128, 8300, 0}, Variant{128, 8300, 32}, Variant{192, 1000, 64}, Variant{8192, 8300, 64},
                          Variant{0, 8300, 0}, Variant{192, 1000, 64, LightningPrefillKernel::kWgmma},
                          Variant{8192, 8300, 64, LightningPrefillKernel::kWgmma}}) {
    SCOPED_TRACE("chunk_tokens " + std::to_string(variant.chunk_tokens) + " max_seq_len " +
                 std::to_string(variant.max_seq_len) + " value_slice " + std::to_string(variant.value_slice) +
                 (variant.kernel == LightningPrefillKernel::kWgmma ? " wgmma" : ""));
    const size_t bytes = m1::kernels::gpu::lightning_prefill_workspace_bytes(n_seqs, kHeads, variant.max_seq_len,
                                                                             variant.chunk_tokens);
    if (variant.chunk_tokens > 0) {  // one start state per chunk (per 4096-token piece of longer chunks)
      const int pieces = variant.chunk_tokens > 4096 ? variant.chunk_tokens / 4096 : 1;
      EXPECT_EQ(bytes, static_cast<size_t>(n_seqs) * ((variant.max_seq_len + variant.chunk_tokens - 1) / variant.chunk_tokens) *
                           pieces * kHeads * kD * kD * sizeof(float));
    }
    DeviceBuffer d_qkv = device_copy(qkv), d_starts = device_copy(starts), d_slots = device_copy(slots);
    DeviceBuffer d_states = device_copy(states), d_decay = device_copy(decay);
    DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_tokens) * kHeads * kD, 0xffff));
    DeviceBuffer d_work = device_copy(std::vector<float>(std::max<size_t>(bytes / 4, 1), std::nanf("")));
    ASSERT_NE(d_out.data(), nullptr);

    m1::kernels::gpu::LightningPrefillArgs args = prefill_args(n_seqs, d_starts, d_qkv, d_decay, d_states, d_slots, d_out);
    args.value_slice = variant.value_slice;
    args.kernel = variant.kernel;
    args.max_seq_len = variant.max_seq_len;
    args.chunk_tokens = variant.chunk_tokens;
    args.workspace = bytes > 0 ? static_cast<float *>(d_work.data()) : nullptr;
    m1::Status status = m1::kernels::gpu::lightning_prefill(args, nullptr);
    ASSERT_TRUE(status.ok()) << status.message();

    std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_tokens) * kHeads * kD);
    std::vector<float> new_states = host_copy<float>(d_states, states.size());
    ASSERT_FALSE(out.empty());
    for (int s = 0; s < n_seqs; ++s)
      for (int h = 0; h < kHeads; ++h) {
        if (lens[s] > 0) {
          EXPECT_LE(relative_error(head_rows(out, starts[s], starts[s + 1], h), want_out[s * kHeads + h]), kPrefillOutTol)
              << "sequence " << s << " (length " << lens[s] << ") head " << h;
          EXPECT_LE(relative_error(state_of(new_states, slots[s], h), want_state[s * kHeads + h]), kPrefillStateTol)
              << "state of sequence " << s << " head " << h;
        } else {
          EXPECT_EQ(state_of(new_states, slots[s], h), want_state[s * kHeads + h]) << "an empty sequence keeps its state";
        }
      }
  }
}

TEST(LightningAttentionGpu, ChunkedPrefillThenDecodeMatchesRecurrence) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;

  const int n_prefill = 1000, split = 383, n_decode = 5, n_rows = n_prefill + n_decode;
  std::mt19937 rng(99);
  std::vector<Bf16> qkv = random_qkv(n_rows, rng);
  std::vector<float> states = random_states(1, rng);
  std::vector<float> decay = test_decays();
  using m1::kernels::gpu::LightningPrefillKernel;
  for (LightningPrefillKernel kernel : {LightningPrefillKernel::kAuto, LightningPrefillKernel::kWgmma}) {
  SCOPED_TRACE(kernel == LightningPrefillKernel::kWgmma ? "wgmma" : "auto");
  DeviceBuffer d_qkv = device_copy(qkv), d_states = device_copy(states), d_decay = device_copy(decay);
  DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_rows) * kHeads * kD, 0xffff));
  ASSERT_NE(d_out.data(), nullptr);
  Bf16 * out_base = static_cast<Bf16 *>(d_out.data());

  // Two prefill chunks (383 and 617 tokens, neither a multiple of the block) through the state.
  for (std::vector<int32_t> starts : {std::vector<int32_t>{0, split}, std::vector<int32_t>{split, n_prefill}}) {
    DeviceBuffer d_starts = device_copy(starts);
    m1::kernels::gpu::LightningPrefillArgs args;
    args.n_seqs = 1;
    args.n_heads = kHeads;
    args.seq_starts = static_cast<const int32_t *>(d_starts.data());
    args.in = packed_inputs(d_qkv);
    args.decay = static_cast<const float *>(d_decay.data());
    args.state = {static_cast<float *>(d_states.data()), nullptr};
    args.out = out_base;
    args.out_row_stride = kHeads * kD;
    args.value_slice = kernel == LightningPrefillKernel::kWgmma ? 64 : 0;
    args.kernel = kernel;
    m1::Status status = m1::kernels::gpu::lightning_prefill(args, nullptr);
    ASSERT_TRUE(status.ok()) << status.message();
  }
  // Then one token at a time.
  for (int t = n_prefill; t < n_rows; ++t) {
    m1::kernels::gpu::LightningDecodeArgs args;
    args.n_seqs = 1;
    args.n_heads = kHeads;
    args.in = packed_inputs(d_qkv, t);
    args.decay = static_cast<const float *>(d_decay.data());
    args.state = {static_cast<float *>(d_states.data()), nullptr};
    args.out = out_base + static_cast<size_t>(t) * kHeads * kD;
    args.out_row_stride = kHeads * kD;
    m1::Status status = m1::kernels::gpu::lightning_decode(args, nullptr);
    ASSERT_TRUE(status.ok()) << status.message();
  }

  std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_rows) * kHeads * kD);
  std::vector<float> final_states = host_copy<float>(d_states, states.size());
  ASSERT_FALSE(out.empty());
  for (int h = 0; h < kHeads; ++h) {
    std::vector<double> state = state_of(states, 0, h), want;
    recurrence(qkv, 0, n_rows, h, std::exp(-static_cast<double>(decay[h])), state, want);
    std::vector<double> got = head_rows(out, 0, n_rows, h);
    EXPECT_LE(relative_error(got, want), kPrefillOutTol) << "head " << h;
    // the decoded tokens alone, after the chunked prefill
    std::vector<double> got_tail(got.end() - n_decode * kD, got.end()), want_tail(want.end() - n_decode * kD, want.end());
    EXPECT_LE(relative_error(got_tail, want_tail), kPrefillOutTol) << "decoded tokens, head " << h;
    EXPECT_LE(relative_error(state_of(final_states, 0, h), state), kPrefillStateTol) << "head " << h;
  }
  }
}

TEST(LightningAttentionGpu, DecodeBatchMatchesRecurrence) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;

  const int n_seqs = 5, n_steps = 3;
  const std::vector<int32_t> slots = {4, 2, 0, 1, 3};
  std::mt19937 rng(7);
  std::vector<float> states = random_states(n_seqs, rng);
  std::vector<float> decay = test_decays();
  DeviceBuffer d_states = device_copy(states), d_decay = device_copy(decay), d_slots = device_copy(slots);
  std::vector<std::vector<double>> want_states(n_seqs * kHeads);
  for (int s = 0; s < n_seqs; ++s)
    for (int h = 0; h < kHeads; ++h) want_states[s * kHeads + h] = state_of(states, slots[s], h);

  for (int step = 0; step < n_steps; ++step) {
    std::vector<Bf16> qkv = random_qkv(n_seqs, rng);  // row s: the new token of sequence s
    DeviceBuffer d_qkv = device_copy(qkv);
    DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_seqs) * kHeads * kD, 0xffff));
    ASSERT_NE(d_out.data(), nullptr);
    m1::kernels::gpu::LightningDecodeArgs args;
    args.n_seqs = n_seqs;
    args.n_heads = kHeads;
    args.in = packed_inputs(d_qkv);
    args.decay = static_cast<const float *>(d_decay.data());
    args.state = {static_cast<float *>(d_states.data()), static_cast<const int32_t *>(d_slots.data())};
    args.out = static_cast<Bf16 *>(d_out.data());
    args.out_row_stride = kHeads * kD;
    m1::Status status = m1::kernels::gpu::lightning_decode(args, nullptr);
    ASSERT_TRUE(status.ok()) << status.message();
    std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_seqs) * kHeads * kD);
    ASSERT_FALSE(out.empty());
    for (int s = 0; s < n_seqs; ++s)
      for (int h = 0; h < kHeads; ++h) {
        std::vector<double> want;
        recurrence(qkv, s, s + 1, h, std::exp(-static_cast<double>(decay[h])), want_states[s * kHeads + h], want);
        EXPECT_LE(relative_error(head_rows(out, s, s + 1, h), want), kDecodeOutTol)
            << "step " << step << " sequence " << s << " head " << h;
      }
  }
  std::vector<float> got_states = host_copy<float>(d_states, states.size());
  for (int s = 0; s < n_seqs; ++s)
    for (int h = 0; h < kHeads; ++h)
      EXPECT_LE(relative_error(state_of(got_states, slots[s], h), want_states[s * kHeads + h]), kDecodeStateTol)
          << "sequence " << s << " head " << h;
}

// The launchers' shape checks run before any CUDA call, so they are checked wherever CUDA is built.
TEST(LightningAttentionArgs, BadShapesAreReportedNotLaunched) {
  if (!m1::kernels::probe_accelerators().cuda_built) GTEST_SKIP() << "built without CUDA";
  alignas(16) static Bf16 rows[3 * kD];
  alignas(16) static float state[kD * kD];
  static const int32_t starts[2] = {0, 1};
  static const float decay[1] = {0.5f};
  m1::kernels::gpu::LightningPrefillArgs args;
  args.n_seqs = 1;
  args.n_heads = 1;
  args.seq_starts = starts;
  args.in = {rows, rows + kD, rows + 2 * kD, 3 * kD, 3 * kD};
  args.decay = decay;
  args.state = {state, nullptr};
  args.out = rows;
  args.out_row_stride = kD;

  args.value_slice = 48;
  m1::Status status = m1::kernels::gpu::lightning_prefill(args, nullptr);
  EXPECT_NE(status.message().find("value_slice 48"), std::string::npos) << status.message();
  args.value_slice = 0;
  args.in.row_stride = 3 * kD + 4;
  status = m1::kernels::gpu::lightning_prefill(args, nullptr);
  EXPECT_NE(status.message().find("row stride"), std::string::npos) << status.message();
  args.in.row_stride = 3 * kD;
  args.in.q = rows + 1;
  status = m1::kernels::gpu::lightning_prefill(args, nullptr);
  EXPECT_NE(status.message().find("16-byte aligned"), std::string::npos) << status.message();
  args.in.q = rows;
  args.chunk_tokens = 100;
  status = m1::kernels::gpu::lightning_prefill(args, nullptr);
  EXPECT_NE(status.message().find("chunk_tokens 100"), std::string::npos) << status.message();
}

}  // namespace
