// MoE routing and token permutation (M1_SPEC.md section 4 "MoE").
//   moe_route:     one warp per token; softmax over all experts in fp32, top-k by repeated warp
//                  argmax (ties: lower expert index), weights renormalized over the chosen k.
//   moe_permute:   (1) one block histograms the n*k entries by expert and scans the counts into
//                  expert_offsets; (2) one block per expert ranks its entries in token order (a
//                  stable, deterministic order, no atomics on global memory) into entry_rows;
//                  (3) every entry's token row is copied to its permuted row, 16 bytes per thread.
//   moe_route_permute_small: the router GEMV and both of the above in one launch for decode
//                  batches: block e computes expert e's fp32 logits for every token (fixed
//                  summation order); the last block to finish (a fence, then an atomic counter that
//                  it resets for the next launch or graph replay) routes, counts, ranks and copies.
//                  Six launches of a few microseconds each become one.
//   moe_unpermute: out[t] = sum_s w[t,s] * expert_out[entry_rows[t*k+s]], accumulated in fp32.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/moe_routing_gpu.h"

namespace m1::kernels::gpu {
namespace {

constexpr int kMaxExperts = 256;
constexpr int kMaxTopK = 8;
constexpr int kPerLane = kMaxExperts / 32;

// One warp routes one token: logits fp32 [n_experts] -> experts / weights [top_k]. The logits are
// read through L2 (ld.cg): in the fused kernel other blocks of the same launch wrote them.
__device__ void route_token(const float * logits, int n_experts, int top_k, int32_t * experts_out,
                            float * weights_out) {
  const int lane = threadIdx.x % 32;
  float p[kPerLane];
  float mx = -INFINITY;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int e = lane + 32 * i;
    p[i] = e < n_experts ? __ldcg(logits + e) : -INFINITY;
    mx = fmaxf(mx, p[i]);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    p[i] = lane + 32 * i < n_experts ? expf(p[i] - mx) : -1.f;  // -1: never chosen
    sum += fmaxf(p[i], 0.f);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  float chosen_p[kMaxTopK] = {};
  int chosen_e[kMaxTopK] = {};
  float chosen_sum = 0.f;
#pragma unroll
  for (int s = 0; s < kMaxTopK; ++s) {
    if (s >= top_k) break;
    float best = -2.f;
    int best_e = 1 << 30;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i)
      if (p[i] > best) best = p[i], best_e = lane + 32 * i;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, best, o);
      const int oe = __shfl_xor_sync(0xffffffffu, best_e, o);
      if (ov > best || (ov == best && oe < best_e)) best = ov, best_e = oe;
    }
#pragma unroll
    for (int i = 0; i < kPerLane; ++i)
      if (lane + 32 * i == best_e) p[i] = -1.f;
    chosen_p[s] = best / sum;
    chosen_e[s] = best_e;
    chosen_sum += best / sum;
  }
  if (lane < top_k) {
    float w = 0.f;
    int e = 0;
#pragma unroll
    for (int s = 0; s < kMaxTopK; ++s)
      if (s == lane) w = chosen_p[s], e = chosen_e[s];
    experts_out[lane] = e;
    weights_out[lane] = w / chosen_sum;
  }
}

__global__ void moe_route_kernel(MoeRouteArgs a) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  if (warp >= a.n_tokens) return;
  route_token(a.logits + static_cast<int64_t>(warp) * a.n_experts, a.n_experts, a.top_k,
              a.experts + static_cast<int64_t>(warp) * a.top_k, a.weights + static_cast<int64_t>(warp) * a.top_k);
}

// The sum of v over this lane and the lanes below it (every lane of the warp takes part).
__device__ __forceinline__ int warp_inclusive_sum(int v) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int below = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += below;
  }
  return v;
}

constexpr int kHistThreads = 1024;

__global__ void __launch_bounds__(kHistThreads) expert_histogram_kernel(const int32_t * experts, int64_t n_entries,
                                                                        int n_experts, int32_t * offsets) {
  __shared__ int counts[kMaxExperts];
  for (int e = threadIdx.x; e < n_experts; e += kHistThreads) counts[e] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n_entries; i += kHistThreads) atomicAdd(&counts[experts[i]], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    int running = 0;
    for (int e = 0; e < n_experts; ++e) {
      offsets[e] = running;
      running += counts[e];
    }
    offsets[n_experts] = running;
  }
}

constexpr int kRankThreads = 256;
constexpr int kRankPerThread = 8;

// Block e: entry_rows[i] = offsets[e] + (number of earlier entries routed to e), for entries of e.
__global__ void __launch_bounds__(kRankThreads) expert_rank_kernel(const int32_t * experts, int64_t n_entries,
                                                                   const int32_t * offsets, int32_t * entry_rows) {
  __shared__ int warp_totals[kRankThreads / 32];
  const int e = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int base = offsets[e];
  for (int64_t chunk = 0; chunk < n_entries; chunk += kRankThreads * kRankPerThread) {
    const int64_t first = chunk + static_cast<int64_t>(threadIdx.x) * kRankPerThread;
    int mine = 0;
#pragma unroll
    for (int j = 0; j < kRankPerThread; ++j) mine += (first + j < n_entries && experts[first + j] == e);
    const int incl = warp_inclusive_sum(mine);
    if (lane == 31) warp_totals[warp] = incl;
    __syncthreads();
    int before = base + incl - mine, chunk_total = 0;
#pragma unroll
    for (int w = 0; w < kRankThreads / 32; ++w) {
      if (w < warp) before += warp_totals[w];
      chunk_total += warp_totals[w];
    }
#pragma unroll
    for (int j = 0; j < kRankPerThread; ++j)
      if (first + j < n_entries && experts[first + j] == e) entry_rows[first + j] = before++;
    base += chunk_total;
    __syncthreads();  // warp_totals is rewritten by the next chunk
  }
}

constexpr int kCopyThreads = 256;

__global__ void permute_rows_kernel(const uint16_t * in, int64_t in_stride, const int32_t * entry_rows, int top_k,
                                    int chunks_per_row, int64_t n_chunks, uint16_t * permuted, int width) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kCopyThreads) + threadIdx.x; i < n_chunks;
       i += static_cast<int64_t>(gridDim.x) * kCopyThreads) {
    const int64_t entry = i / chunks_per_row;
    const int col = static_cast<int>(i % chunks_per_row) * 8;
    const int64_t token = entry / top_k;
    *reinterpret_cast<uint4 *>(permuted + static_cast<int64_t>(entry_rows[entry]) * width + col) =
        *reinterpret_cast<const uint4 *>(in + token * in_stride + col);
  }
}

__global__ void unpermute_kernel(MoeUnpermuteArgs a, int chunks_per_row, int64_t n_chunks) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kCopyThreads) + threadIdx.x; i < n_chunks;
       i += static_cast<int64_t>(gridDim.x) * kCopyThreads) {
    const int64_t token = i / chunks_per_row;
    const int col = static_cast<int>(i % chunks_per_row) * 8;
    float acc[8] = {};
    for (int s = 0; s < a.top_k; ++s) {
      const int64_t entry = token * a.top_k + s;
      const float w = a.weights[entry];
      const uint4 u = *reinterpret_cast<const uint4 *>(a.expert_out + static_cast<int64_t>(a.entry_rows[entry]) * a.width + col);
      const uint32_t parts[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        acc[2 * j] = fmaf(w, cuda::bf16_bits_to_float(parts[j] & 0xffffu), acc[2 * j]);
        acc[2 * j + 1] = fmaf(w, cuda::bf16_bits_to_float(parts[j] >> 16), acc[2 * j + 1]);
      }
    }
    *reinterpret_cast<uint4 *>(reinterpret_cast<uint16_t *>(a.out) + token * a.out_stride + col) =
        make_uint4(cuda::pack_bf16x2(acc[0], acc[1]), cuda::pack_bf16x2(acc[2], acc[3]),
                   cuda::pack_bf16x2(acc[4], acc[5]), cuda::pack_bf16x2(acc[6], acc[7]));
  }
}

constexpr int kSmallThreads = 256;  // >= kMaxExperts (one thread per expert in the scan)
constexpr int kSmallWarps = kSmallThreads / 32;
constexpr int kSmallUnroll = 8;
static_assert(kSmallWarps >= kMoeRouteSmallMaxTokens, "one warp routes one token");
static_assert(kSmallThreads >= kMaxTopK * kMoeRouteSmallMaxTokens, "one thread ranks one entry");

// Block e: logits[t, e] = x[t] . router[e] for every token t (per-thread fp32 partial sums over
// float4 chunks, then warps, then the 8 warp sums in order: deterministic). The last block then
// does moe_route's and moe_permute's work for the whole batch.
__global__ void __launch_bounds__(kSmallThreads) moe_route_permute_small_kernel(MoeRoutePermuteArgs a) {
  __shared__ float partial[kSmallWarps][kMoeRouteSmallMaxTokens];
  __shared__ int entry_expert[kMaxTopK * kMoeRouteSmallMaxTokens], entry_row[kMaxTopK * kMoeRouteSmallMaxTokens];
  __shared__ int first_row[kMaxExperts];
  __shared__ int warp_totals[kSmallWarps];
  __shared__ bool last;
  const int e = blockIdx.x, tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int T = a.n_tokens, E = a.n_experts, K = a.top_k;
  float acc[kMoeRouteSmallMaxTokens] = {};
  const float4 * w = reinterpret_cast<const float4 *>(a.router + static_cast<int64_t>(e) * a.width);
  const int n4 = a.width / 4;
  for (int c0 = tid; c0 < n4; c0 += kSmallThreads * kSmallUnroll) {
    float4 wv[kSmallUnroll];
#pragma unroll
    for (int u = 0; u < kSmallUnroll; ++u) {  // every weight load in flight before the first use
      const int c = c0 + u * kSmallThreads;
      wv[u] = c < n4 ? __ldg(w + c) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int t = 0; t < kMoeRouteSmallMaxTokens; ++t) {
      if (t >= T) break;
      const float4 * x = reinterpret_cast<const float4 *>(a.x + t * a.x_stride);
#pragma unroll
      for (int u = 0; u < kSmallUnroll; ++u) {
        const int c = c0 + u * kSmallThreads;
        if (c < n4) {
          const float4 xv = x[c];
          acc[t] = fmaf(wv[u].x, xv.x, acc[t]);
          acc[t] = fmaf(wv[u].y, xv.y, acc[t]);
          acc[t] = fmaf(wv[u].z, xv.z, acc[t]);
          acc[t] = fmaf(wv[u].w, xv.w, acc[t]);
        }
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kMoeRouteSmallMaxTokens; ++t) {
    float v = acc[t];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) partial[warp][t] = v;
  }
  __syncthreads();
  if (tid < T) {
    float sum = 0.f;
#pragma unroll
    for (int w8 = 0; w8 < kSmallWarps; ++w8) sum += partial[w8][tid];
    a.logits[static_cast<int64_t>(tid) * E + e] = sum;
  }
  // Publish this block's logits, then count it; the last block sees every block's logits.
  __threadfence();
  __syncthreads();
  if (tid == 0) last = atomicAdd(a.counter, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  if (tid == 0) *a.counter = 0u;  // ready for the next launch (graph replays reuse the counter)

  // Route: warp t takes token t.
  if (warp < T)
    route_token(a.logits + static_cast<int64_t>(warp) * E, E, K, a.experts + static_cast<int64_t>(warp) * K,
                a.weights + static_cast<int64_t>(warp) * K);
  __syncthreads();
  const int n_entries = T * K;
  if (tid < n_entries) entry_expert[tid] = __ldcg(a.experts + tid);
  __syncthreads();
  // Offsets: thread e counts expert e's entries; an exclusive scan over the block.
  int count = 0;
  if (tid < E)
    for (int i = 0; i < n_entries; ++i) count += entry_expert[i] == tid;
  const int incl = warp_inclusive_sum(count);
  if (lane == 31) warp_totals[warp] = incl;
  __syncthreads();
  int before = incl - count;
#pragma unroll
  for (int w8 = 0; w8 < kSmallWarps; ++w8)
    if (w8 < warp) before += warp_totals[w8];
  if (tid < E) {
    first_row[tid] = before;
    a.expert_offsets[tid] = before;
    if (tid == E - 1) a.expert_offsets[E] = before + count;
  }
  __syncthreads();
  // Stable ranks: an entry follows the earlier entries of its expert.
  if (tid < n_entries) {
    const int ex = entry_expert[tid];
    int row = first_row[ex];
    for (int i = 0; i < tid; ++i) row += entry_expert[i] == ex;
    entry_row[tid] = row;
    a.entry_rows[tid] = row;
  }
  __syncthreads();
  // Copy each entry's token row to its permuted row, 16 bytes per thread, loads batched.
  const int chunks = a.width / 8, n_chunks = n_entries * chunks;
  const uint16_t * in = reinterpret_cast<const uint16_t *>(a.in);
  uint16_t * out = reinterpret_cast<uint16_t *>(a.permuted);
  constexpr int kCopyUnroll = 4;
  for (int i0 = tid; i0 < n_chunks; i0 += kSmallThreads * kCopyUnroll) {
    uint4 v[kCopyUnroll];
#pragma unroll
    for (int u = 0; u < kCopyUnroll; ++u) {
      const int i = i0 + u * kSmallThreads;
      if (i < n_chunks) {
        const int entry = i / chunks, col = (i % chunks) * 8;
        v[u] = *reinterpret_cast<const uint4 *>(in + static_cast<int64_t>(entry / K) * a.in_stride + col);
      }
    }
#pragma unroll
    for (int u = 0; u < kCopyUnroll; ++u) {
      const int i = i0 + u * kSmallThreads;
      if (i < n_chunks) {
        const int entry = i / chunks, col = (i % chunks) * 8;
        *reinterpret_cast<uint4 *>(out + static_cast<int64_t>(entry_row[entry]) * a.width + col) = v[u];
      }
    }
  }
}

unsigned copy_grid(int64_t n_chunks) {
  constexpr int64_t kMaxBlocks = 132 * 8;  // 8 blocks of 256 threads per H100 SM
  const int64_t blocks = (n_chunks + kCopyThreads - 1) / kCopyThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

Status check_counts(const char * name, int n_tokens, int n_experts, int top_k) {
  M1_RETURN_IF_ERROR(cuda::require(n_tokens > 0, name, "n_tokens must be positive"));
  M1_RETURN_IF_ERROR(cuda::require(n_experts > 0 && n_experts <= kMaxExperts, name,
                                   "n_experts " + std::to_string(n_experts) + " must be in [1, 256]"));
  return cuda::require(top_k > 0 && top_k <= kMaxTopK && top_k <= n_experts, name,
                       "top_k " + std::to_string(top_k) + " must be in [1, min(8, n_experts)]");
}

}  // namespace

Status moe_route(const MoeRouteArgs & a, Stream stream) {
  constexpr const char * kName = "moe_route";
  M1_RETURN_IF_ERROR(check_counts(kName, a.n_tokens, a.n_experts, a.top_k));
  M1_RETURN_IF_ERROR(cuda::require(a.logits && a.experts && a.weights, kName, "logits, experts and weights must be set"));
  constexpr int kWarpsPerBlock = 8;
  const unsigned blocks = static_cast<unsigned>((a.n_tokens + kWarpsPerBlock - 1) / kWarpsPerBlock);
  moe_route_kernel<<<blocks, kWarpsPerBlock * 32, 0, static_cast<cudaStream_t>(stream)>>>(a);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

Status moe_permute(const MoePermuteArgs & a, Stream stream) {
  constexpr const char * kName = "moe_permute";
  M1_RETURN_IF_ERROR(check_counts(kName, a.n_tokens, a.n_experts, a.top_k));
  M1_RETURN_IF_ERROR(cuda::require(a.width > 0 && a.width % 8 == 0, kName,
                                   "width " + std::to_string(a.width) + " must be a positive multiple of 8"));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "in", a.in, a.in_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "permuted", a.permuted, a.width, a.width));
  M1_RETURN_IF_ERROR(cuda::require(a.experts && a.expert_offsets && a.entry_rows, kName,
                                   "experts, expert_offsets and entry_rows must be set"));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t n_entries = static_cast<int64_t>(a.n_tokens) * a.top_k;
  expert_histogram_kernel<<<1, kHistThreads, 0, s>>>(a.experts, n_entries, a.n_experts, a.expert_offsets);
  M1_CUDA_STATUS(cudaGetLastError());
  expert_rank_kernel<<<a.n_experts, kRankThreads, 0, s>>>(a.experts, n_entries, a.expert_offsets, a.entry_rows);
  M1_CUDA_STATUS(cudaGetLastError());
  const int64_t n_chunks = n_entries * (a.width / 8);
  permute_rows_kernel<<<copy_grid(n_chunks), kCopyThreads, 0, s>>>(a.in, a.in_stride, a.entry_rows, a.top_k,
                                                                    a.width / 8, n_chunks, a.permuted, a.width);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

Status moe_route_permute_small(const MoeRoutePermuteArgs & a, Stream stream) {
  constexpr const char * kName = "moe_route_permute_small";
  M1_RETURN_IF_ERROR(check_counts(kName, a.n_tokens, a.n_experts, a.top_k));
  M1_RETURN_IF_ERROR(cuda::require(a.n_tokens <= kMoeRouteSmallMaxTokens, kName,
                                   "n_tokens " + std::to_string(a.n_tokens) + " must be at most " +
                                       std::to_string(kMoeRouteSmallMaxTokens) + " (use moe_route + moe_permute)"));
  M1_RETURN_IF_ERROR(cuda::require(a.width > 0 && a.width % 8 == 0, kName,
                                   "width " + std::to_string(a.width) + " must be a positive multiple of 8"));
  M1_RETURN_IF_ERROR(cuda::require(a.x && cuda::aligned16(a.x) && a.x_stride % 4 == 0 && a.x_stride >= a.width, kName,
                                   "x must be 16-byte aligned with a row stride that is a multiple of 4, >= width"));
  M1_RETURN_IF_ERROR(cuda::require(a.router && cuda::aligned16(a.router), kName, "router must be set and 16-byte aligned"));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "in", a.in, a.in_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "permuted", a.permuted, a.width, a.width));
  M1_RETURN_IF_ERROR(cuda::require(a.logits && a.experts && a.weights && a.expert_offsets && a.entry_rows && a.counter,
                                   kName, "logits, experts, weights, expert_offsets, entry_rows and counter must be set"));
  moe_route_permute_small_kernel<<<a.n_experts, kSmallThreads, 0, static_cast<cudaStream_t>(stream)>>>(a);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

Status moe_unpermute(const MoeUnpermuteArgs & a, Stream stream) {
  constexpr const char * kName = "moe_unpermute";
  M1_RETURN_IF_ERROR(cuda::require(a.n_tokens > 0 && a.top_k > 0 && a.top_k <= kMaxTopK, kName,
                                   "n_tokens must be positive and top_k in [1, 8]"));
  M1_RETURN_IF_ERROR(cuda::require(a.width > 0 && a.width % 8 == 0, kName,
                                   "width " + std::to_string(a.width) + " must be a positive multiple of 8"));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "expert_out", a.expert_out, a.width, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out", a.out, a.out_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require(a.entry_rows && a.weights, kName, "entry_rows and weights must be set"));
  const int64_t n_chunks = static_cast<int64_t>(a.n_tokens) * (a.width / 8);
  unpermute_kernel<<<copy_grid(n_chunks), kCopyThreads, 0, static_cast<cudaStream_t>(stream)>>>(a, a.width / 8,
                                                                                               n_chunks);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
