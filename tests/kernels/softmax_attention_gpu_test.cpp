// Softmax attention over a paged KV cache against float64 evaluations of M1_SPEC.md section 4:
// RoPE (NeoX pairing on the first 64 dims, theta 1e7) computed in float64 from the same bf16 inputs,
// then causal softmax attention of each sequence's last token over its cache with GQA (8 query heads
// per KV head). Sequences of unequal, odd lengths live in shuffled, non-contiguous pages; the decode
// runs unsplit, split, and split into more parts than a short sequence has tokens; the prefill runs
// every token in two chunks per sequence (the second continuing from the cached first), with chunk
// boundaries off the 64-token tiles, through both prefill kernels (wgmma, the default, and mma.sync).
// For the wgmma kernel's paths: chunks of 1..4 tokens (one key tile, so the producer signals it only
// at its tail), last query tiles of 44 and 60 rows (the second warpgroup has no rows and runs tile 0
// only), full query tiles (the first warpgroup needs one key tile fewer and only releases the last),
// up to 16 key tiles (the 4-stage ring wraps four times), an empty chunk among non-empty ones, and
// 16-token pages (4 page lookups per key tile).
#include "kernels/softmax_attention_gpu.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
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

constexpr int kD = 128, kKvHeads = 2, kHeads = 8 * kKvHeads, kPage = 16, kRotary = 64;
constexpr double kTheta = 1e7;

// Tolerances. RoPE: inputs identical, the rotation in fp32 with fp64-reduced angles (error ~1e-6),
// one rounding to bf16 per element (<= 2^-9 relative): a row's relative error <= 2^-9 = 2e-3, checked
// at 3e-3. Decode: the same bf16 q, k, v as the oracle, fp32 scores/softmax/sums (~1e-6 relative) and
// one rounding of o to bf16 (2^-9): 4e-3.
constexpr double kRopeTol = 3e-3;
constexpr double kDecodeTol = 4e-3;
// Prefill also rounds the probabilities to bf16 for P V (2^-9 relative each): 2 x 2^-9 = 3.9e-3
// plus fp32 softmax (the wgmma kernel's ex2.approx adds ~2^-22 relative per probability); checked at
// 8e-3.
constexpr double kPrefillTol = 8e-3;

// x rotated by RoPE at position pos, in float64.
std::vector<double> rope(const Bf16 * x, int pos) {
  std::vector<double> r(kD);
  for (int d = 0; d < kD; ++d) r[d] = from_bf16(x[d]);
  for (int j = 0; j < kRotary / 2; ++j) {
    const double angle = pos * std::pow(kTheta, -2.0 * j / kRotary);
    const double x0 = from_bf16(x[j]), x1 = from_bf16(x[j + kRotary / 2]);
    r[j] = x0 * std::cos(angle) - x1 * std::sin(angle);
    r[j + kRotary / 2] = x1 * std::cos(angle) + x0 * std::sin(angle);
  }
  return r;
}

std::vector<double> as_double(const Bf16 * x, int n) {
  std::vector<double> r(n);
  for (int i = 0; i < n; ++i) r[i] = from_bf16(x[i]);
  return r;
}

TEST(SoftmaxAttentionGpu, RopeAppendThenPagedDecodeMatchesFloat64) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;

  const std::vector<int> lens = {1, 7, 64, 200, 1000};
  const int n_seqs = static_cast<int>(lens.size());
  int max_pages = 0, n_pages = 0, n_tokens = 0;
  for (int len : lens) {
    max_pages = std::max(max_pages, (len + kPage - 1) / kPage);
    n_pages += (len + kPage - 1) / kPage;
    n_tokens += len;
  }
  // Pages handed out in a shuffled order, so no sequence is contiguous in the pool.
  std::mt19937 rng(31);
  std::vector<int32_t> pool(n_pages);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  std::vector<int32_t> block_table(static_cast<size_t>(n_seqs) * max_pages, -1);
  std::vector<int32_t> token_seq, token_pos, last_token;
  for (int s = 0, next = 0; s < n_seqs; ++s) {
    for (int j = 0; j < (lens[s] + kPage - 1) / kPage; ++j) block_table[s * max_pages + j] = pool[next++];
    for (int t = 0; t < lens[s]; ++t) token_seq.push_back(s), token_pos.push_back(t);
    last_token.push_back(static_cast<int32_t>(token_seq.size()) - 1);
  }
  std::normal_distribution<float> normal(0.f, 1.f);
  auto random_rows = [&](int cols) {
    std::vector<Bf16> v(static_cast<size_t>(n_tokens) * cols);
    for (Bf16 & x : v) x = to_bf16(normal(rng));
    return v;
  };
  std::vector<Bf16> q = random_rows(kHeads * kD), k = random_rows(kKvHeads * kD), v = random_rows(kKvHeads * kD);

  const size_t cache_elems = static_cast<size_t>(n_pages) * kPage * kKvHeads * kD;
  DeviceBuffer d_q = device_copy(q), d_k = device_copy(k), d_v = device_copy(v);
  DeviceBuffer d_cache_k = device_copy(std::vector<Bf16>(cache_elems, 0xffff));
  DeviceBuffer d_cache_v = device_copy(std::vector<Bf16>(cache_elems, 0xffff));
  DeviceBuffer d_table = device_copy(block_table), d_seq = device_copy(token_seq), d_pos = device_copy(token_pos);
  ASSERT_NE(d_cache_v.data(), nullptr);
  m1::kernels::gpu::PagedKvCache cache;
  cache.k = static_cast<Bf16 *>(d_cache_k.data());
  cache.v = static_cast<Bf16 *>(d_cache_v.data());
  cache.page_size = kPage;
  cache.n_kv_heads = kKvHeads;
  cache.block_table = static_cast<const int32_t *>(d_table.data());
  cache.max_pages = max_pages;

  m1::kernels::gpu::RopeAppendArgs ra;
  ra.n_tokens = n_tokens;
  ra.n_heads = kHeads;
  ra.q = static_cast<Bf16 *>(d_q.data());
  ra.q_row_stride = kHeads * kD;
  ra.k = static_cast<const Bf16 *>(d_k.data());
  ra.v = static_cast<const Bf16 *>(d_v.data());
  ra.kv_row_stride = kKvHeads * kD;
  ra.token_seq = static_cast<const int32_t *>(d_seq.data());
  ra.token_pos = static_cast<const int32_t *>(d_pos.data());
  ra.rotary_dim = kRotary;
  ra.rope_theta = kTheta;
  ra.cache = cache;
  m1::Status status = m1::kernels::gpu::rope_append(ra, nullptr);
  ASSERT_TRUE(status.ok()) << status.message();

  std::vector<Bf16> q_rot = host_copy<Bf16>(d_q, q.size());
  std::vector<Bf16> cache_k = host_copy<Bf16>(d_cache_k, cache_elems), cache_v = host_copy<Bf16>(d_cache_v, cache_elems);
  ASSERT_FALSE(cache_v.empty());
  auto cache_row = [&](const std::vector<Bf16> & c, int s, int t, int h) {
    const int page = block_table[s * max_pages + t / kPage];
    return c.data() + ((static_cast<size_t>(page) * kPage + t % kPage) * kKvHeads + h) * kD;
  };
  int bad_rows = 0, bad_values = 0;
  for (int i = 0; i < n_tokens; ++i) {
    const int s = token_seq[i], t = token_pos[i];
    for (int h = 0; h < kKvHeads; ++h) {
      bad_rows += !(relative_error(as_double(cache_row(cache_k, s, t, h), kD), rope(&k[(i * kKvHeads + h) * kD], t)) <= kRopeTol);
      bad_values += !std::equal(cache_row(cache_v, s, t, h), cache_row(cache_v, s, t, h) + kD, &v[(i * kKvHeads + h) * kD]);
    }
    for (int h = 0; h < kHeads; ++h)
      bad_rows += !(relative_error(as_double(&q_rot[(static_cast<size_t>(i) * kHeads + h) * kD], kD),
                                   rope(&q[(static_cast<size_t>(i) * kHeads + h) * kD], t)) <= kRopeTol);
  }
  EXPECT_EQ(bad_rows, 0) << "rotated q/k rows off the float64 RoPE";
  EXPECT_EQ(bad_values, 0) << "v rows not copied exactly";

  // Decode the last token of each sequence over its whole cache.
  std::vector<Bf16> q_last;
  for (int s = 0; s < n_seqs; ++s)
    q_last.insert(q_last.end(), q_rot.begin() + static_cast<size_t>(last_token[s]) * kHeads * kD,
                  q_rot.begin() + static_cast<size_t>(last_token[s] + 1) * kHeads * kD);
  std::vector<int32_t> seq_lens(lens.begin(), lens.end());
  DeviceBuffer d_q_last = device_copy(q_last), d_lens = device_copy(seq_lens);
  std::vector<std::vector<double>> want(static_cast<size_t>(n_seqs) * kHeads);
  for (int s = 0; s < n_seqs; ++s)
    for (int h = 0; h < kHeads; ++h) {
      const Bf16 * qh = &q_last[(static_cast<size_t>(s) * kHeads + h) * kD];
      std::vector<double> scores(lens[s]);
      for (int t = 0; t < lens[s]; ++t) {
        const Bf16 * kt = cache_row(cache_k, s, t, h / 8);
        double dot = 0;
        for (int d = 0; d < kD; ++d) dot += static_cast<double>(from_bf16(qh[d])) * from_bf16(kt[d]);
        scores[t] = dot / std::sqrt(static_cast<double>(kD));
      }
      const double mx = *std::max_element(scores.begin(), scores.end());
      double sum = 0;
      for (double & x : scores) sum += x = std::exp(x - mx);
      std::vector<double> o(kD, 0.0);
      for (int t = 0; t < lens[s]; ++t) {
        const Bf16 * vt = cache_row(cache_v, s, t, h / 8);
        for (int d = 0; d < kD; ++d) o[d] += scores[t] / sum * from_bf16(vt[d]);
      }
      want[s * kHeads + h] = o;
    }

  // Prefill: every token of every sequence, in two chunks [0, c) and [c, len) per sequence.
  {
    std::vector<int32_t> firsts;
    for (int len : lens) firsts.push_back(std::max(1, len * 3 / 7));
    for (int chunk = 0; chunk < 2; ++chunk) {
      std::vector<int32_t> starts = {0}, chunk_pos;
      std::vector<Bf16> q_chunk;
      int max_chunk = 0;
      for (int s = 0; s < n_seqs; ++s) {
        const int begin = chunk == 0 ? 0 : std::min(firsts[s], lens[s]), end = chunk == 0 ? std::min(firsts[s], lens[s]) : lens[s];
        const size_t row0 = static_cast<size_t>(last_token[s] - lens[s] + 1);
        q_chunk.insert(q_chunk.end(), q_rot.begin() + (row0 + begin) * kHeads * kD, q_rot.begin() + (row0 + end) * kHeads * kD);
        starts.push_back(starts.back() + end - begin);
        chunk_pos.push_back(begin);
        max_chunk = std::max(max_chunk, end - begin);
      }
      if (max_chunk == 0) continue;
      SCOPED_TRACE("prefill chunk " + std::to_string(chunk));
      const int rows = starts.back();
      // float64 reference of every (sequence, head): its chunk rows x 128
      std::vector<std::vector<double>> ref(static_cast<size_t>(n_seqs) * kHeads);
      for (int s = 0; s < n_seqs; ++s)
        for (int h = 0; h < kHeads; ++h)
          for (int r = starts[s]; r < starts[s + 1]; ++r) {
            const int pos = chunk_pos[s] + r - starts[s];
            const Bf16 * qh = &q_chunk[(static_cast<size_t>(r) * kHeads + h) * kD];
            std::vector<double> p(pos + 1);
            for (int tk = 0; tk <= pos; ++tk) {
              const Bf16 * kt = cache_row(cache_k, s, tk, h / 8);
              double dot = 0;
              for (int d = 0; d < kD; ++d) dot += static_cast<double>(from_bf16(qh[d])) * from_bf16(kt[d]);
              p[tk] = dot / std::sqrt(static_cast<double>(kD));
            }
            const double mx = *std::max_element(p.begin(), p.end());
            double sum = 0;
            for (double & x : p) sum += x = std::exp(x - mx);
            for (int d = 0; d < kD; ++d) {
              double acc = 0;
              for (int tk = 0; tk <= pos; ++tk) acc += p[tk] / sum * from_bf16(cache_row(cache_v, s, tk, h / 8)[d]);
              ref[s * kHeads + h].push_back(acc);
            }
          }
      DeviceBuffer d_qc = device_copy(q_chunk), d_starts = device_copy(starts), d_cpos = device_copy(chunk_pos);
      // Both kernels (the default wgmma one and the mma.sync one), each into a poisoned output.
      using m1::kernels::gpu::PagedPrefillKernel;
      for (PagedPrefillKernel kernel : {PagedPrefillKernel::kAuto, PagedPrefillKernel::kMmaSync}) {
        SCOPED_TRACE(kernel == PagedPrefillKernel::kAuto ? "wgmma kernel" : "mma.sync kernel");
        DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(rows) * kHeads * kD, 0xffff));
        m1::kernels::gpu::PagedPrefillArgs pa;
        pa.n_seqs = n_seqs;
        pa.n_heads = kHeads;
        pa.q = static_cast<const Bf16 *>(d_qc.data());
        pa.q_row_stride = kHeads * kD;
        pa.seq_starts = static_cast<const int32_t *>(d_starts.data());
        pa.chunk_pos = static_cast<const int32_t *>(d_cpos.data());
        pa.max_chunk_len = max_chunk;
        pa.cache = cache;
        pa.out = static_cast<Bf16 *>(d_out.data());
        pa.out_row_stride = kHeads * kD;
        pa.kernel = kernel;
        status = m1::kernels::gpu::paged_prefill(pa, nullptr);
        ASSERT_TRUE(status.ok()) << status.message();
        std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(rows) * kHeads * kD);
        ASSERT_FALSE(out.empty());
        for (int s = 0; s < n_seqs; ++s)
          for (int h = 0; h < kHeads; ++h) {
            std::vector<double> got;
            for (int r = starts[s]; r < starts[s + 1]; ++r)
              for (int d = 0; d < kD; ++d)
                got.push_back(from_bf16(out[(static_cast<size_t>(r) * kHeads + h) * kD + d]));
            if (!got.empty()) {
              EXPECT_LE(relative_error(got, ref[s * kHeads + h]), kPrefillTol)
                  << "sequence " << s << " head " << h;
            }
          }
      }
    }
  }

  // Split decodes merge in the last thread block of each (sequence, kv head), which must leave its
  // counter at zero: a second call then gives the same answer (graph replays reuse the counters).
  for (int splits : {1, 3, 32, 0}) {
    SCOPED_TRACE("splits " + std::to_string(splits));
    const size_t ws_bytes = m1::kernels::gpu::paged_decode_workspace_bytes(n_seqs, kHeads, 1000, splits);
    auto ws = m1::kernels::DeviceBuffer::allocate(0, std::max<size_t>(ws_bytes, 16));
    ASSERT_TRUE(ws.ok()) << ws.status().message();
    const std::vector<uint32_t> zeros(static_cast<size_t>(n_seqs) * kKvHeads, 0u);
    DeviceBuffer d_counters = device_copy(zeros);
    m1::kernels::gpu::PagedDecodeArgs da;
    da.n_seqs = n_seqs;
    da.n_heads = kHeads;
    da.q = static_cast<const Bf16 *>(d_q_last.data());
    da.q_row_stride = kHeads * kD;
    da.seq_lens = static_cast<const int32_t *>(d_lens.data());
    da.max_seq_len = 1000;
    da.cache = cache;
    da.out_row_stride = kHeads * kD;
    da.workspace = static_cast<float *>(ws->data());
    da.splits = splits;
    da.split_counters = static_cast<unsigned *>(d_counters.data());
    for (int call = 0; call < 2; ++call) {
      DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_seqs) * kHeads * kD, 0xffff));
      da.out = static_cast<Bf16 *>(d_out.data());
      status = m1::kernels::gpu::paged_decode(da, nullptr);
      ASSERT_TRUE(status.ok()) << status.message();
      std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_seqs) * kHeads * kD);
      ASSERT_FALSE(out.empty());
      for (int s = 0; s < n_seqs; ++s)
        for (int h = 0; h < kHeads; ++h)
          EXPECT_LE(relative_error(as_double(&out[(static_cast<size_t>(s) * kHeads + h) * kD], kD), want[s * kHeads + h]),
                    kDecodeTol)
              << "call " << call << ", sequence " << s << " (length " << lens[s] << ") head " << h;
      EXPECT_EQ(host_copy<uint32_t>(d_counters, zeros.size()), zeros) << "counters left at zero";
    }
  }
}

// A split decode needs its workspace and its counters: without either it is refused before any
// launch (host-side checks only, so this runs wherever CUDA is built).
TEST(SoftmaxAttentionArgs, SplitDecodeWithoutWorkspaceOrCountersIsRefused) {
  if (!m1::kernels::probe_accelerators().cuda_built) GTEST_SKIP() << "built without CUDA";
  alignas(16) static Bf16 rows[8 * kD], cache_k[16 * kD], cache_v[16 * kD];
  alignas(16) static float workspace[64];
  static unsigned counters[1];
  static const int32_t table[4] = {0, 1, 2, 3}, lens[1] = {40};
  m1::kernels::gpu::PagedDecodeArgs da;
  da.n_seqs = 1;
  da.n_heads = 8;
  da.q = rows;
  da.q_row_stride = 8 * kD;
  da.seq_lens = lens;
  da.max_seq_len = 40;
  da.cache = {cache_k, cache_v, 16, 1, table, 4};
  da.out = rows;
  da.out_row_stride = 8 * kD;
  da.splits = 3;
  da.workspace = workspace;
  m1::Status status = m1::kernels::gpu::paged_decode(da, nullptr);
  EXPECT_NE(status.message().find("split counters"), std::string::npos) << status.message();
  da.workspace = nullptr;
  da.split_counters = counters;
  status = m1::kernels::gpu::paged_decode(da, nullptr);
  EXPECT_NE(status.message().find("workspace"), std::string::npos) << status.message();
}

}  // namespace
