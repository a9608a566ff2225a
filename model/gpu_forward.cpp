// GpuModel::forward: the decoder stack of M1_SPEC.md section 4 composed from the kernels/ GPU
// operations, over all new tokens of the batch at once (bf16 weights and GEMM inputs, fp32
// accumulation):
//   a = N_in(x);  x1 = alpha_attn * a + beta_attn * Attn(a)
//   b = N_post(x1);  x = alpha_mlp * b + beta_mlp * MoE(b)
// then the final norm and the fp32 LM head on the rows whose logits were asked for.
// Precision: the residual stream (postnorm: the normed rows a and b), the attention branch output,
// the router input and the final norm output stay fp32; each residual_rms_norm fuses the sum and
// also writes a bf16 copy of its row for the GEMMs that read it. Carrying a and b in bf16 instead
// (alpha ~3.6 times each rounding into the next layer) and reading the router from bf16 rows
// flipped near-tied expert choices and cost up to 0.35 of a position's logits on the test
// fixtures; tests/reference/gpu_precision_model.py shows which store costs what.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <tuple>
#include <utility>

#include "kernels/activation_gpu.h"
#include "kernels/gemm_gpu.h"
#include "kernels/graph_gpu.h"
#include "kernels/lightning_attention_gpu.h"
#include "kernels/moe_gemm_gpu.h"
#include "kernels/moe_routing_gpu.h"
#include "kernels/norm_gpu.h"
#include "kernels/softmax_attention_gpu.h"
#include "kernels/tensor_ops_gpu.h"
#include "model/gpu_model.h"

namespace m1 {

namespace gpu = kernels::gpu;
using gpu::Bf16;

// Device scratch, grown as batches grow and kept across forwards.
struct GpuModel::Workspace {
  int device = 0;
  kernels::DeviceBuffer ints, x, a, a32, b, attn_out, qkv, o, oc, b32, router_logits, experts, route_weights, permuted,
      offsets, entry_rows, hidden, expert_out, decode, lightning_chunks, final32, logits;
  kernels::DeviceBuffer route_counter;  // moe_route_permute_small's counter: zeroed once, left zero by each launch
  kernels::DeviceBuffer decode_counters;  // paged_decode's split counters: zeroed when grown, left zero by each launch

  // Decode graphs, keyed by (sequences, context bucket, block-table width), which fix every launch's
  // shape and the plan's layout. A graph holds the addresses of the buffers
  // above, so any reallocation (generation) retires it.
  struct DecodeGraph {
    int64_t generation = -1;
    int direct_runs = 0;  // the first step of a shape runs directly (it may allocate); the next captures
    bool failed = false;  // capture failed once: this shape runs directly from now on
    kernels::gpu::Graph graph;
  };
  int64_t generation = 0;
  int64_t replays = 0;
  std::vector<int> logit_row;  // per batch entry of the last forward: its first row in `logits`
  std::map<std::tuple<int, int, int>, DecodeGraph> graphs;

  Status ensure(kernels::DeviceBuffer & buffer, size_t n_bytes) {
    if (buffer.size() >= n_bytes && buffer.data()) return {};
    auto grown = kernels::DeviceBuffer::allocate(device, std::max<size_t>(n_bytes, 256));
    if (!grown) return grown.status().with_context("gpu forward: workspace");
    buffer = std::move(grown).value();
    ++generation;
    return {};
  }

  // Pinned staging for the plan upload and the logits download, so that neither holds the host in
  // a pageable copy (a decode step's fixed cost). Logits larger than kMaxPinnedLogits (long
  // prefills asking for every row's logits) take the synchronous pageable path instead.
  static constexpr size_t kMaxPinnedLogits = size_t(64) << 20;
  kernels::PinnedHostBuffer plan_staging, logits_staging;
  bool staging_in_flight = false;  // an async copy from or to the staging may still run
  bool logits_staged = false;      // the last lm_head left its host rows in logits_staging

  static Status ensure_pinned(kernels::PinnedHostBuffer & buffer, size_t n_bytes) {
    if (buffer.size() >= n_bytes && buffer.data()) return {};
    auto grown = kernels::PinnedHostBuffer::allocate(std::max<size_t>(2 * n_bytes, 4096));
    if (!grown) return grown.status().with_context("gpu forward: pinned staging");
    buffer = std::move(grown).value();
    return {};
  }

  // The batch plan into `ints`, on the stream ahead of the kernels that read it.
  Status upload_plan(const std::vector<int32_t> & host) {
    if (staging_in_flight) M1_RETURN_IF_ERROR(gpu::synchronize(nullptr));  // an earlier forward failed midway
    const size_t bytes = host.size() * 4;
    M1_RETURN_IF_ERROR(ensure_pinned(plan_staging, bytes));
    std::memcpy(plan_staging.data(), host.data(), bytes);
    staging_in_flight = true;
    return gpu::copy_to_device_async(ints.data(), plan_staging.data(), bytes, nullptr);
  }
};

namespace {

Bf16 * bf(const kernels::DeviceBuffer & b) { return static_cast<Bf16 *>(b.data()); }
float * f32(const kernels::DeviceBuffer & b) { return static_cast<float *>(b.data()); }
int32_t * i32(const kernels::DeviceBuffer & b) { return static_cast<int32_t *>(b.data()); }

// The batch as the kernels see it: active sequences (those with new tokens) in batch order.
struct BatchPlan {
  int n_seqs = 0, n_rows = 0, max_chunk = 0, max_len = 0, max_pages = 0;
  bool decode = false;  // every active sequence adds exactly one token
  bool moe_per_expert = false;  // expert FFNs per expert on cuBLAS (host sync), see forward()
  std::vector<int> row_begin;  // per batch entry: its first row (its tokens' rows follow)
  std::vector<int32_t> host;  // all int arrays below, each starting at a 16-byte boundary
  size_t tokens = 0, seq_starts = 0, slots = 0, token_seq = 0, token_pos = 0, chunk_pos = 0, seq_lens = 0,
         block_table = 0;
  const int32_t * dev = nullptr;  // the uploaded copy of `host`
  const int32_t * at(size_t offset) const { return dev + offset; }
};

size_t reserve(std::vector<int32_t> & host, size_t n) {
  const size_t offset = (host.size() + 3) / 4 * 4;
  host.resize(offset + n, 0);
  return offset;
}

// Everything a layer needs.
struct Run {
  const ModelConfig & c;
  const GpuWeights & w;
  GpuModel::Workspace & ws;
  const BatchPlan & plan;
};

Status gemm(const Bf16 * a, int64_t lda, const kernels::DeviceBuffer & weight, int64_t weight_offset, Bf16 * c,
            int64_t ldc, int m, int n, int k, float alpha = 1.0f, int64_t ldb = 0) {
  gpu::GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = bf(weight) + weight_offset, g.ldb = ldb ? ldb : k;
  g.c = c, g.ldc = ldc, g.alpha = alpha;
  return gpu::gemm_nt(g, nullptr);
}

// The attention branch's last projection, into the fp32 branch output the residual sum reads.
Status gemm_to_f32(const Bf16 * a, int64_t lda, const kernels::DeviceBuffer & weight, float * c, int m, int n, int k) {
  gpu::GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = bf(weight), g.ldb = k;
  g.c = c, g.ldc = n, g.c_type = gpu::ElementType::f32;
  return gpu::gemm_nt(g, nullptr);
}

// One GEMM gives q, k, v (per head, 384 columns) and the output gate (Hd columns) of each row.
Status lightning_layer(const Run & r, const GpuLayerWeights & w, float * states, const Bf16 * a, float * out) {
  const GpuGeometry & g = r.w.geometry;
  const int T = r.plan.n_rows, D = r.c.hidden_size, H = g.heads, d = g.head_dim, Hd = H * d, N = H * 384 + Hd;
  Bf16 * qkv = bf(r.ws.qkv), * o = bf(r.ws.o), * gate = qkv + H * 384;
  M1_RETURN_IF_ERROR(gemm(a, D, w.qkv, 0, qkv, N, T, N, D));
  const gpu::LightningInputs in{qkv, qkv + 128, qkv + 256, N, 384};
  const gpu::LightningState state{states, r.plan.at(r.plan.slots)};
  if (r.plan.decode) {
    gpu::LightningDecodeArgs dec{r.plan.n_seqs, H, in, f32(w.decay), state, o, int64_t(H) * 128};
    dec.silu = true;  // the activation is applied as the kernel loads q, k, v
    M1_RETURN_IF_ERROR(gpu::lightning_decode(dec, nullptr));
  } else {
    M1_RETURN_IF_ERROR(gpu::silu_rows_inplace(qkv, T, H * 384, N, nullptr));
    gpu::LightningPrefillArgs args;
    args.n_seqs = r.plan.n_seqs, args.n_heads = H, args.seq_starts = r.plan.at(r.plan.seq_starts), args.in = in;
    args.decay = f32(w.decay), args.state = state, args.out = o, args.out_row_stride = int64_t(H) * 128;
    // Few sequences x heads (one long prompt, or a tensor-parallel share of the heads): the kernel
    // splits each sequence into chunks run in parallel, with their start states in this workspace.
    const size_t bytes = gpu::lightning_prefill_workspace_bytes(r.plan.n_seqs, H, r.plan.max_chunk);
    if (bytes > 0) {
      M1_RETURN_IF_ERROR(r.ws.ensure(r.ws.lightning_chunks, bytes));
      args.max_seq_len = r.plan.max_chunk, args.workspace = f32(r.ws.lightning_chunks);
    }
    M1_RETURN_IF_ERROR(gpu::lightning_prefill(args, nullptr));
  }
  Bf16 * oc = o;  // [T, H*d]: the real dims of each head, packed
  if (d != 128) {
    oc = bf(r.ws.oc);
    M1_RETURN_IF_ERROR(gpu::copy_2d(oc, size_t(d) * 2, o, 256, size_t(d) * 2, size_t(T) * H, nullptr));
  }
  M1_RETURN_IF_ERROR(gpu::gated_rms_norm(
      {T, Hd, oc, Hd, gate, N, bf(w.out_norm), float(r.c.lightning_norm_eps), oc, Hd}, nullptr));
  return gemm_to_f32(oc, Hd, w.out_proj, out, T, D, Hd);
}

Status softmax_layer(const Run & r, const GpuLayerWeights & w, gpu::PagedKvCache cache, const Bf16 * a, float * out) {
  const GpuGeometry & g = r.w.geometry;
  const int T = r.plan.n_rows, D = r.c.hidden_size, Hs = g.softmax_heads, kv = g.kv_heads * 128, N = Hs * 128 + 2 * kv;
  // One GEMM gives each row's q, k and v.
  Bf16 * q = bf(r.ws.qkv), * k = q + Hs * 128, * v = k + kv, * o = bf(r.ws.o);
  // The kernels scale scores by 1/sqrt(128); a smaller head wants 1/sqrt(d): q_scale is the ratio.
  const float q_scale = float(std::sqrt(128.0 / g.head_dim));
  M1_RETURN_IF_ERROR(gemm(a, D, w.qkv, 0, q, N, T, N, D));
  gpu::RopeAppendArgs rope;
  rope.n_tokens = T, rope.n_heads = Hs, rope.q = q, rope.q_row_stride = N, rope.k = k, rope.v = v;
  rope.kv_row_stride = N, rope.token_seq = r.plan.at(r.plan.token_seq), rope.token_pos = r.plan.at(r.plan.token_pos);
  rope.rotary_dim = r.c.rotary_dim, rope.rope_theta = r.c.rope_theta, rope.cache = cache;
  M1_RETURN_IF_ERROR(gpu::rope_append(rope, nullptr));
  if (r.plan.decode) {
    gpu::PagedDecodeArgs dec;
    dec.n_seqs = r.plan.n_seqs, dec.n_heads = Hs, dec.q = q, dec.q_row_stride = N, dec.q_scale = q_scale;
    dec.seq_lens = r.plan.at(r.plan.seq_lens), dec.max_seq_len = r.plan.max_len, dec.cache = cache;
    dec.out = o, dec.out_row_stride = Hs * 128;
    const size_t bytes = gpu::paged_decode_workspace_bytes(r.plan.n_seqs, Hs, r.plan.max_len);
    if (bytes > 0) {
      M1_RETURN_IF_ERROR(r.ws.ensure(r.ws.decode, bytes));
      dec.workspace = f32(r.ws.decode);
      dec.split_counters = static_cast<unsigned *>(r.ws.decode_counters.data());  // the splits merge in the decode kernel
    }
    M1_RETURN_IF_ERROR(gpu::paged_decode(dec, nullptr));
  } else {
    gpu::PagedPrefillArgs pre;
    pre.n_seqs = r.plan.n_seqs, pre.n_heads = Hs, pre.q = q, pre.q_row_stride = N, pre.q_scale = q_scale;
    pre.seq_starts = r.plan.at(r.plan.seq_starts), pre.chunk_pos = r.plan.at(r.plan.chunk_pos);
    pre.max_chunk_len = r.plan.max_chunk, pre.cache = cache, pre.out = o, pre.out_row_stride = Hs * 128;
    M1_RETURN_IF_ERROR(gpu::paged_prefill(pre, nullptr));
  }
  // Padded query heads produce outputs too; o_proj's zero columns drop them.
  return gemm_to_f32(o, Hs * 128, w.o_proj, out, T, D, Hs * 128);
}

// Routing and the expert GEMMs: leaves the expert outputs (permuted order) in ws.expert_out for the
// residual norm, which un-permutes them as it reads them (entry_rows, route_weights).
Status moe_layer(const Run & r, const GpuLayerWeights & w, const Bf16 * b) {
  const int T = r.plan.n_rows, D = r.c.hidden_size, E = r.c.n_experts, K = r.c.n_experts_per_token, F = r.c.expert_ffn;
  GpuModel::Workspace & ws = r.ws;
  // Router in fp32 (M1_SPEC.md section 1) on the fp32 normed rows ws.b32 (run_layers).
  if (T <= gpu::kMoeRouteSmallMaxTokens) {  // decode: router GEMV, route and permute in one launch
    gpu::MoeRoutePermuteArgs small;
    small.n_tokens = T, small.n_experts = E, small.top_k = K, small.width = D, small.x = f32(ws.b32), small.x_stride = D;
    small.router = f32(w.router), small.in = b, small.in_stride = D, small.logits = f32(ws.router_logits);
    small.experts = i32(ws.experts), small.weights = f32(ws.route_weights), small.permuted = bf(ws.permuted);
    small.expert_offsets = i32(ws.offsets), small.entry_rows = i32(ws.entry_rows);
    small.counter = static_cast<unsigned *>(ws.route_counter.data());
    M1_RETURN_IF_ERROR(gpu::moe_route_permute_small(small, nullptr));
  } else {
    gpu::GemmArgs router;
    router.m = T, router.n = E, router.k = D, router.a = f32(ws.b32), router.lda = D, router.b = f32(w.router);
    router.ldb = D, router.ab_type = gpu::ElementType::f32, router.c = f32(ws.router_logits), router.ldc = E;
    router.c_type = gpu::ElementType::f32;
    M1_RETURN_IF_ERROR(gpu::gemm_nt(router, nullptr));
    M1_RETURN_IF_ERROR(gpu::moe_route({T, E, K, f32(ws.router_logits), i32(ws.experts), f32(ws.route_weights)}, nullptr));
    M1_RETURN_IF_ERROR(gpu::moe_permute(
        {T, E, K, D, i32(ws.experts), b, D, bf(ws.permuted), i32(ws.offsets), i32(ws.entry_rows)}, nullptr));
  }
  if (r.plan.moe_per_expert) {  // large prefills: per-expert cuBLAS GEMMs, `hidden` 2F wide
    std::vector<int32_t> offsets(size_t(E) + 1);
    M1_RETURN_IF_ERROR(gpu::copy_to_host(offsets.data(), ws.offsets.data(), offsets.size() * 4));  // waits
    gpu::MoePerExpertArgs a;
    a.n_rows = T * K, a.n_experts = E, a.width = D, a.ffn = F, a.host_offsets = offsets.data();
    a.in = bf(ws.permuted), a.in_stride = D, a.gate_up = bf(w.gate_up), a.down = bf(w.down), a.hidden = bf(ws.hidden);
    a.out = bf(ws.expert_out), a.out_stride = D;
    return gpu::moe_expert_gemms_per_expert(a, nullptr);
  }
  // Both expert GEMMs read the per-expert row ranges from the device (no host sync); the first
  // fuses w1 and w3 with SwiGLU, so `hidden` holds F columns per routed row.
  gpu::MoeGemmArgs up;
  up.n_rows = T * K, up.n_experts = E, up.n = F, up.k = D, up.swiglu = true, up.in = bf(ws.permuted), up.in_stride = D;
  up.expert_offsets = i32(ws.offsets), up.weights = bf(w.gate_up), up.out = bf(ws.hidden), up.out_stride = F;
  M1_RETURN_IF_ERROR(gpu::moe_expert_gemm(up, nullptr));
  gpu::MoeGemmArgs down = up;
  down.n = D, down.k = F, down.swiglu = false, down.in = bf(ws.hidden), down.in_stride = F, down.weights = bf(w.down);
  down.out = bf(ws.expert_out), down.out_stride = D;
  return gpu::moe_expert_gemm(down, nullptr);
}

// What the plan needs of one memory.
struct MemoryView {
  int slot = 0;
  int64_t n_tokens = 0;
  const std::vector<int32_t> * pages = nullptr;
};

// The plan of a batch whose memories already hold pages for their new tokens.
BatchPlan make_plan(std::span<const GpuSequenceInput> batch, std::span<const MemoryView> views, int page_tokens) {
  BatchPlan plan;
  plan.row_begin.assign(batch.size(), 0);
  std::vector<int> active;
  for (size_t s = 0; s < batch.size(); ++s) {
    const int n = int(batch[s].tokens.size());
    if (n == 0) continue;
    plan.row_begin[s] = plan.n_rows;
    active.push_back(int(s));
    plan.n_rows += n;
    plan.max_chunk = std::max(plan.max_chunk, n);
    plan.max_len = std::max(plan.max_len, int(views[s].n_tokens + n));
    plan.max_pages = std::max(plan.max_pages, int(views[s].pages->size()));
  }
  plan.max_pages = std::max(plan.max_pages, 1);
  plan.n_seqs = int(active.size());
  plan.decode = plan.max_chunk == 1;
  if (plan.decode) {
    // A decode step sees its context length rounded up to a power of two (at least 256): one CUDA
    // graph then serves every step of a bucket (the paged decode's split count follows max_len),
    // and a step computes the same with or without graphs.
    int bucket = 256;
    while (bucket < plan.max_len) bucket *= 2;
    plan.max_len = bucket;
    plan.max_pages = std::max(plan.max_pages, (bucket + page_tokens - 1) / page_tokens);
  }
  const int T = plan.n_rows, S = plan.n_seqs;
  plan.tokens = reserve(plan.host, T);
  plan.token_seq = reserve(plan.host, T);
  plan.token_pos = reserve(plan.host, T);
  plan.seq_starts = reserve(plan.host, S + 1);
  plan.slots = reserve(plan.host, S);
  plan.chunk_pos = reserve(plan.host, S);
  plan.seq_lens = reserve(plan.host, S);
  plan.block_table = reserve(plan.host, size_t(S) * plan.max_pages);
  for (int i = 0; i < S; ++i) {
    const size_t s = size_t(active[size_t(i)]);
    const MemoryView & m = views[s];
    const int begin = plan.row_begin[s], n = int(batch[s].tokens.size());
    for (int t = 0; t < n; ++t) {
      plan.host[plan.tokens + size_t(begin + t)] = batch[s].tokens[size_t(t)];
      plan.host[plan.token_seq + size_t(begin + t)] = i;
      plan.host[plan.token_pos + size_t(begin + t)] = int32_t(m.n_tokens + t);
    }
    plan.host[plan.seq_starts + size_t(i) + 1] = begin + n;
    plan.host[plan.slots + size_t(i)] = m.slot;
    plan.host[plan.chunk_pos + size_t(i)] = int32_t(m.n_tokens);
    plan.host[plan.seq_lens + size_t(i)] = int32_t(m.n_tokens + n);
    std::copy(m.pages->begin(), m.pages->end(), plan.host.begin() + int64_t(plan.block_table + size_t(i) * plan.max_pages));
  }
  return plan;
}

Status ensure_workspace(GpuModel::Workspace & ws, const ModelConfig & c, const GpuGeometry & g, const BatchPlan & plan) {
  const size_t rows = size_t(plan.n_rows), D = size_t(c.hidden_size), E = size_t(c.n_experts);
  const size_t routed = rows * size_t(c.n_experts_per_token), F = size_t(c.expert_ffn);
  const size_t hidden_width = plan.moe_per_expert ? 2 * F : F;  // gate and up side by side, or fused
  const size_t Hs = size_t(g.softmax_heads), H = size_t(g.heads), kv = size_t(g.kv_heads) * 128;
  const size_t Hd = H * size_t(g.head_dim), wide = std::max(H * 384 + Hd, Hs * 128 + 2 * kv);
  M1_RETURN_IF_ERROR(ws.ensure(ws.ints, plan.host.size() * 4));
  for (auto [buffer, bytes] : std::initializer_list<std::pair<kernels::DeviceBuffer *, size_t>>{
           {&ws.x, rows * D * 2}, {&ws.a, rows * D * 2}, {&ws.a32, rows * D * 4}, {&ws.b, rows * D * 2},
           {&ws.attn_out, rows * D * 4},
           {&ws.qkv, rows * wide * 2}, {&ws.o, rows * std::max(H, Hs) * 128 * 2}, {&ws.oc, rows * Hd * 2},
           {&ws.b32, rows * D * 4}, {&ws.router_logits, rows * E * 4}, {&ws.experts, routed * 4},
           {&ws.route_weights, routed * 4}, {&ws.permuted, routed * D * 2}, {&ws.offsets, (E + 1) * 4},
           {&ws.entry_rows, routed * 4}, {&ws.hidden, routed * hidden_width * 2}, {&ws.expert_out, routed * D * 2}})
    M1_RETURN_IF_ERROR(ws.ensure(*buffer, bytes));
  if (!ws.route_counter.data()) {
    M1_RETURN_IF_ERROR(ws.ensure(ws.route_counter, 4));
    M1_RETURN_IF_ERROR(gpu::fill_zero(ws.route_counter.data(), ws.route_counter.size(), nullptr));
  }
  const size_t counter_bytes = size_t(plan.n_seqs) * size_t(g.kv_heads) * 4;
  if (ws.decode_counters.size() < counter_bytes || !ws.decode_counters.data()) {
    M1_RETURN_IF_ERROR(ws.ensure(ws.decode_counters, counter_bytes));
    M1_RETURN_IF_ERROR(gpu::fill_zero(ws.decode_counters.data(), ws.decode_counters.size(), nullptr));
  }
  return {};
}

// Where each layer's memory lives: the lightning state pool and the K/V page pools.
struct LayerMemory {
  float * states = nullptr;   // fp32 [lightning layers][slots][H][128][128]
  size_t layer_floats = 0;    // floats of one lightning layer's slots
  const std::vector<kernels::DeviceBuffer> & k_pages;
  const std::vector<kernels::DeviceBuffer> & v_pages;
  const std::vector<int> & index;  // layer -> index among its kind
  int page_tokens = 0;
};

// One postnorm step: out32 = (alpha * skip + beta * branch) normed and weighted, in fp32, and its
// bf16 copy into out16 (nullptr: none). skip and out32 are fp32 rows; the caller sets the branch.
gpu::ResidualRmsNormArgs postnorm(const Run & r, const float * skip, const ResidualScale & scale, const Bf16 * weight,
                                  float * out32, Bf16 * out16) {
  const int D = r.c.hidden_size;
  gpu::ResidualRmsNormArgs n;
  n.n_rows = r.plan.n_rows, n.width = D, n.skip_f32 = skip, n.skip_stride = D, n.branch_stride = D;
  n.alpha = float(scale.alpha), n.beta = float(scale.beta), n.weight = weight, n.eps = float(r.c.rms_norm_eps);
  n.out = out16, n.out_stride = D, n.out_f32 = out32, n.out_f32_stride = D;
  return n;
}

// After attention: the branch is the attention output (fp32 rows).
Status residual_norm(const Run & r, const float * skip, const float * branch, const ResidualScale & scale,
                     const Bf16 * weight, float * out32, Bf16 * out16) {
  gpu::ResidualRmsNormArgs n = postnorm(r, skip, scale, weight, out32, out16);
  n.branch_f32 = branch;
  return gpu::residual_rms_norm(n, nullptr);
}

// After the MoE: the branch is the expert outputs, un-permuted and weighted as they are read
// (moe_unpermute's arithmetic).
Status residual_norm_moe(const Run & r, const float * skip, const Bf16 * weight, float * out32, Bf16 * out16) {
  gpu::ResidualRmsNormArgs n = postnorm(r, skip, r.c.mlp_residual, weight, out32, out16);
  n.gather = bf(r.ws.expert_out), n.gather_rows = i32(r.ws.entry_rows), n.gather_weights = f32(r.ws.route_weights);
  n.gather_k = r.c.n_experts_per_token;
  return gpu::residual_rms_norm(n, nullptr);
}

// Embedding, every layer, and the final norm: leaves the normed final rows, fp32, in ws.a32.
Status run_layers(const Run & r, const LayerMemory & mem) {
  const ModelConfig & c = r.c;
  GpuModel::Workspace & ws = r.ws;
  const int T = r.plan.n_rows, D = c.hidden_size;
  const float eps = float(c.rms_norm_eps);
  M1_RETURN_IF_ERROR(gpu::gather_rows(bf(r.w.embed), D, r.plan.at(r.plan.tokens), T, bf(ws.x), nullptr));
  gpu::ResidualRmsNormArgs first;  // the embedding (bf16 rows) through layer 0's input norm
  first.n_rows = T, first.width = D, first.skip = bf(ws.x), first.skip_stride = D;
  first.weight = bf(r.w.layers[0].input_norm), first.eps = eps;
  first.out = bf(ws.a), first.out_stride = D, first.out_f32 = f32(ws.a32), first.out_f32_stride = D;
  M1_RETURN_IF_ERROR(gpu::residual_rms_norm(first, nullptr));
  for (int l = 0; l < c.n_layers; ++l) {
    const GpuLayerWeights & w = r.w.layers[size_t(l)];
    const size_t index = size_t(mem.index[size_t(l)]);
    const bool lightning = w.kind == LayerKind::lightning;
    const ResidualScale & attn = lightning ? c.lightning_residual : c.softmax_residual;
    if (lightning) {
      M1_RETURN_IF_ERROR(lightning_layer(r, w, mem.states + index * mem.layer_floats, bf(ws.a), f32(ws.attn_out)));
    } else {
      const gpu::PagedKvCache cache{bf(mem.k_pages[index]), bf(mem.v_pages[index]), mem.page_tokens,
                                    r.w.geometry.kv_heads, r.plan.at(r.plan.block_table), r.plan.max_pages};
      M1_RETURN_IF_ERROR(softmax_layer(r, w, cache, bf(ws.a), f32(ws.attn_out)));
    }
    // b: fp32 in ws.b32 (the router's input and the MoE skip), bf16 in ws.b (the experts' input).
    M1_RETURN_IF_ERROR(residual_norm(r, f32(ws.a32), f32(ws.attn_out), attn, bf(w.post_attention_norm), f32(ws.b32),
                                     bf(ws.b)));
    M1_RETURN_IF_ERROR(moe_layer(r, w, bf(ws.b)));
    const bool last = l + 1 == c.n_layers;
    const Bf16 * next_norm = last ? bf(r.w.final_norm) : bf(r.w.layers[size_t(l) + 1].input_norm);
    M1_RETURN_IF_ERROR(residual_norm_moe(r, f32(ws.b32), next_norm, f32(ws.a32), last ? nullptr : bf(ws.a)));
  }
  return {};
}

// run_layers, for decode steps through a CUDA graph per (sequences, context bucket): the first step
// of a shape runs directly (allocating what it needs), the second captures, later ones replay. A
// shape whose capture fails keeps running directly.
Status run_decoder(const Run & r, const LayerMemory & mem, bool graphs) {
  if (!graphs || !r.plan.decode) return run_layers(r, mem);
  GpuModel::Workspace::DecodeGraph & entry = r.ws.graphs[{r.plan.n_seqs, r.plan.max_len, r.plan.max_pages}];
  if (entry.generation != r.ws.generation) {
    entry = {};
    entry.generation = r.ws.generation;
  }
  if (!entry.graph.valid()) {
    if (entry.failed || entry.direct_runs++ == 0) return run_layers(r, mem);
    auto graph = kernels::gpu::Graph::capture([&] { return run_layers(r, mem); });
    if (!graph || r.ws.generation != entry.generation) {
      entry.failed = true;
      return run_layers(r, mem);
    }
    entry.graph = std::move(graph).value();
  }
  ++r.ws.replays;
  return entry.graph.launch();
}

// The fp32 LM head over the asked-for rows of the fp32 final norm output (gathered unless they are
// all rows in order, as in decode), one GEMM, into `logits`.
Status lm_head(const Run & r, std::span<const GpuSequenceInput> batch, std::vector<SequenceLogits> & logits) {
  const int D = r.c.hidden_size, V = r.c.vocab_size;
  GpuModel::Workspace & ws = r.ws;
  int R = 0;
  for (const SequenceLogits & out : logits) R += out.n_rows;
  ws.logit_row.clear();
  if (R == 0) return {};
  M1_RETURN_IF_ERROR(ws.ensure(ws.logits, size_t(R) * V * 4));
  const float * rows = f32(ws.a32);
  if (R != r.plan.n_rows) {
    M1_RETURN_IF_ERROR(ws.ensure(ws.final32, size_t(R) * D * 4));
    int row = 0;
    for (size_t s = 0; s < batch.size(); ++s) {
      const int n = logits[s].n_rows, first = r.plan.row_begin[s] + int(batch[s].tokens.size()) - n;
      M1_RETURN_IF_ERROR(gpu::copy_2d(f32(ws.final32) + int64_t(row) * D, size_t(D) * 4, f32(ws.a32) + int64_t(first) * D,
                                      size_t(D) * 4, size_t(D) * 4, size_t(n), nullptr));
      row += n;
    }
    rows = f32(ws.final32);
  }
  gpu::GemmArgs head;
  head.m = R, head.n = V, head.k = D, head.a = rows, head.lda = D, head.b = f32(r.w.lm_head);
  head.ldb = D, head.ab_type = gpu::ElementType::f32, head.c = f32(ws.logits), head.ldc = V;
  head.c_type = gpu::ElementType::f32;
  M1_RETURN_IF_ERROR(gpu::gemm_nt(head, nullptr));
  int row = 0;
  ws.logit_row.assign(batch.size(), 0);
  bool host_rows = false;
  for (size_t s = 0; s < batch.size(); ++s) {
    ws.logit_row[s] = row;
    row += logits[s].n_rows;
    host_rows |= logits[s].n_rows > 0 && !batch[s].logits_on_device;
  }
  const size_t bytes = size_t(R) * V * 4;
  if (host_rows && bytes <= GpuModel::Workspace::kMaxPinnedLogits) {  // all rows at once; split after the sync
    M1_RETURN_IF_ERROR(GpuModel::Workspace::ensure_pinned(ws.logits_staging, bytes));
    ws.staging_in_flight = ws.logits_staged = true;
    return gpu::copy_to_host_async(ws.logits_staging.data(), ws.logits.data(), bytes, nullptr);
  }
  for (size_t s = 0; s < batch.size(); ++s) {
    SequenceLogits & out = logits[s];
    if (out.n_rows > 0 && !batch[s].logits_on_device) {
      out.values.resize(size_t(out.n_rows) * V);
      M1_RETURN_IF_ERROR(gpu::copy_to_host(out.values.data(), f32(ws.logits) + int64_t(ws.logit_row[s]) * V,
                                           out.values.size() * 4));
    }
  }
  return {};
}

// After the stream's sync: the host rows lm_head staged, into each sequence's logits.
void take_staged_logits(GpuModel::Workspace & ws, std::span<const GpuSequenceInput> batch,
                        std::vector<SequenceLogits> & logits) {
  if (!ws.logits_staged) return;
  ws.logits_staged = false;
  const float * staged = static_cast<const float *>(ws.logits_staging.data());
  for (size_t s = 0; s < batch.size(); ++s) {
    SequenceLogits & out = logits[s];
    if (out.n_rows == 0 || batch[s].logits_on_device) continue;
    const float * first = staged + size_t(ws.logit_row[s]) * out.vocab;
    out.values.assign(first, first + size_t(out.n_rows) * out.vocab);
  }
}

}  // namespace

GpuModel::GpuModel(ModelConfig config, GpuWeights weights, const GpuModelOptions & options)
    : config_(std::move(config)), weights_(std::move(weights)), options_(options), ws_(std::make_unique<Workspace>()) {
  ws_->device = options.device;
}

GpuModel::~GpuModel() = default;

int64_t GpuModel::graph_replays() const { return ws_->replays; }

const float * GpuModel::device_logits(size_t index) const {
  return index < ws_->logit_row.size() ? f32(ws_->logits) + int64_t(ws_->logit_row[index]) * config_.vocab_size : nullptr;
}

Expected<std::vector<SequenceLogits>> GpuModel::forward(std::span<const GpuSequenceInput> batch) {
  M1_RETURN_IF_ERROR(validate(batch));
  M1_RETURN_IF_ERROR(use_device());
  std::vector<MemoryView> views(batch.size());
  std::vector<SequenceLogits> logits(batch.size());
  for (size_t s = 0; s < batch.size(); ++s) {
    GpuMemory & m = *batch[s].memory;
    const int n = int(batch[s].tokens.size());
    take_pages(m, m.n_tokens_ + n);  // validate checked there are enough
    views[s] = {m.slot_, m.n_tokens_, &m.pages_};
    logits[s].vocab = config_.vocab_size;
    logits[s].n_rows = batch[s].logits == LogitRows::all ? n : batch[s].logits == LogitRows::last && n > 0 ? 1 : 0;
  }
  BatchPlan plan = make_plan(batch, views, kPageTokens);
  // The per-expert path copies the expert offsets to the host, which a CUDA graph capture cannot
  // do: decode steps, which run_decoder captures when graphs are on, keep the grouped kernels
  // (at the default threshold no decode batch has that many tokens, but a test's threshold of 1
  // would reach them).
  plan.moe_per_expert = plan.n_rows >= options_.moe_per_expert_min_tokens && !(plan.decode && options_.cuda_graphs);
  if (plan.n_rows > 0) {
    M1_RETURN_IF_ERROR(ensure_workspace(*ws_, config_, weights_.geometry, plan));
    M1_RETURN_IF_ERROR(ws_->upload_plan(plan.host));
    plan.dev = i32(ws_->ints);
    const Run run{config_, weights_, *ws_, plan};
    const size_t layer_floats = size_t(options_.max_sequences) * weights_.geometry.heads * 128 * 128;
    const LayerMemory memory{f32(states_), layer_floats, k_pages_, v_pages_, lightning_index_, kPageTokens};
    M1_RETURN_IF_ERROR(run_decoder(run, memory, options_.cuda_graphs));
    M1_RETURN_IF_ERROR(lm_head(run, batch, logits));
    M1_RETURN_IF_ERROR(gpu::synchronize(nullptr));
    ws_->staging_in_flight = false;
    take_staged_logits(*ws_, batch, logits);
  }
  for (const GpuSequenceInput & in : batch) in.memory->n_tokens_ += int64_t(in.tokens.size());
  return logits;
}

}  // namespace m1
