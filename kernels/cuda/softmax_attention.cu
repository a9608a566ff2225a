// Softmax attention over a paged KV cache (see kernels/softmax_attention_gpu.h for the contract).
// rope_append: one thread block per (new token, kv head); the 32 (rotary_dim/2) angles
//   pos * theta^(-2j/r) are formed and reduced modulo 2 pi in fp64 (fp32 angles lose accuracy at
//   large positions), then applied in fp32 to the kv head's 8 q heads and to its k; k and v are
//   written as bf16 into the token's page. (One block per token for all heads took 12.7 us for a
//   decode step's single token on an H100, a chain of dependent loads in one block.)
// paged_decode: thread block = (split, kv head, sequence), 8 warps; all 8 query heads of the kv head
//   are handled together so each cached k/v row is read once. Per group of 32 tokens, lane j scores
//   token j against the 8 heads (fp32, scores in log2 units), the warp updates its online softmax,
//   then all lanes accumulate p * v over the group with coalesced v-row reads (4 dims per lane).
//   Warps, then splits, merge their (max, sum, o) partials: the splits in the last of their thread
//   blocks to finish (fence, then a per-(sequence, kv head) counter that it resets; a separate
//   combine kernel was slower at batch 1: 26.4 vs 24.6 us at 4K tokens, H100). Bound by the K/V bytes.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/softmax_attention_gpu.h"

namespace m1::kernels::gpu {
namespace {

constexpr int kD = kSoftmaxHeadDim;
constexpr int kG = kSoftmaxGroup;
constexpr int kWarps = 8;
static_assert(kWarps == kG, "the last block of a split decode merges one query head per warp");
constexpr int kThreads = kWarps * 32;
// Tokens per split at least this many (so that a split's fixed cost is amortized) and enough
// splits for two thread blocks per SM of an H100 (132 SMs).
constexpr int kMinSplitTokens = 256;
constexpr int kTargetBlocks = 2 * 132;
constexpr int kMaxSplits = 32;  // one lane per split when they merge
// A split's record in the workspace ([n_seqs][n_heads][splits]): o[128], max, sum, padding to 16 bytes.
constexpr int kRecord = kD + 4;
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ const uint16_t * cache_row(const uint16_t * base, const PagedKvCache & c, int seq, int t,
                                                     int kv_head) {
  const int page = c.block_table[static_cast<int64_t>(seq) * c.max_pages + t / c.page_size];
  return base + ((static_cast<int64_t>(page) * c.page_size + t % c.page_size) * c.n_kv_heads + kv_head) * kD;
}

// ---- rope_append ----------------------------------------------------------------------------

__global__ void rope_append_kernel(RopeAppendArgs a) {
  __shared__ float cos_s[kD / 2], sin_s[kD / 2];
  const int token = blockIdx.x, kv_head = blockIdx.y, half = a.rotary_dim / 2;
  const int pos = a.token_pos[token], seq = a.token_seq[token];
  if (threadIdx.x < half) {
    const double inv_freq = pow(a.rope_theta, -2.0 * threadIdx.x / a.rotary_dim);
    const double angle = fmod(static_cast<double>(pos) * inv_freq, 6.283185307179586);
    float s, c;
    sincosf(static_cast<float>(angle), &s, &c);
    cos_s[threadIdx.x] = c, sin_s[threadIdx.x] = s;
  }
  __syncthreads();
  // the kv head's q heads: rotate pairs (j, j + half) in place
  uint16_t * q = reinterpret_cast<uint16_t *>(a.q) + static_cast<int64_t>(token) * a.q_row_stride + kv_head * kG * kD;
  for (int i = threadIdx.x; i < kG * half; i += blockDim.x) {
    const int h = i / half, j = i % half;
    uint16_t * x = q + h * kD;
    const float x0 = cuda::bf16_bits_to_float(x[j]), x1 = cuda::bf16_bits_to_float(x[j + half]);
    const float r0 = x0 * cos_s[j] - x1 * sin_s[j], r1 = x1 * cos_s[j] + x0 * sin_s[j];
    x[j] = __bfloat16_as_ushort(__float2bfloat16_rn(r0));
    x[j + half] = __bfloat16_as_ushort(__float2bfloat16_rn(r1));
  }
  // k: rotated dims, then the rest copied; v copied
  const PagedKvCache & c = a.cache;
  const uint16_t * k = reinterpret_cast<const uint16_t *>(a.k) + static_cast<int64_t>(token) * a.kv_row_stride + kv_head * kD;
  const uint16_t * v = reinterpret_cast<const uint16_t *>(a.v) + static_cast<int64_t>(token) * a.kv_row_stride + kv_head * kD;
  uint16_t * kdst = const_cast<uint16_t *>(cache_row(reinterpret_cast<const uint16_t *>(c.k), c, seq, pos, kv_head));
  uint16_t * vdst = const_cast<uint16_t *>(cache_row(reinterpret_cast<const uint16_t *>(c.v), c, seq, pos, kv_head));
  for (int d = threadIdx.x; d < kD; d += blockDim.x) {
    uint16_t kv = k[d];
    if (d < a.rotary_dim) {
      const int j = d < half ? d : d - half;
      const float x0 = cuda::bf16_bits_to_float(k[j]), x1 = cuda::bf16_bits_to_float(k[j + half]);
      const float r = d < half ? x0 * cos_s[j] - x1 * sin_s[j] : x1 * cos_s[j] + x0 * sin_s[j];
      kv = __bfloat16_as_ushort(__float2bfloat16_rn(r));
    }
    kdst[d] = kv;
    vdst[d] = v[d];
  }
}

// ---- paged_decode -----------------------------------------------------------------------------

struct DecodeShared {
  float q[kG][kD];                   // query rows, pre-scaled by log2(e) / sqrt(d)
  float p[kWarps][32][kG];           // one warp's probabilities of its current 32 tokens
  float o[kWarps][kG][kD];           // per-warp partial outputs, merged at the end
  float m[kWarps][kG], l[kWarps][kG];
};

// Head `head` of sequence `seq` from its splits' records in the workspace, by one warp: lane s
// weighs split s (max, sum), then each lane merges 4 output dims over the splits, several records'
// loads in flight. Read through L2 (__ldcg): other thread blocks wrote the records.
__device__ void merge_splits(const PagedDecodeArgs & a, int splits, int seq, int head) {
  const int lane = threadIdx.x % 32;
  const float * recs = a.workspace + (static_cast<int64_t>(seq) * a.n_heads + head) * splits * kRecord;
  const float m = lane < splits ? __ldcg(recs + lane * kRecord + kD) : -INFINITY;
  float mx = m;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  // mx is finite: split 0 holds the sequence's first token. A split past the end has max -inf
  // (weight 0) and zero o.
  const float f = m == -INFINITY ? 0.f : exp2f(m - mx);
  float sum = lane < splits ? __ldcg(recs + lane * kRecord + kD + 1) * f : 0.f;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 8
  for (int s = 0; s < splits; ++s) {
    const float fs = __shfl_sync(0xffffffffu, f, s);
    const float4 o = __ldcg(reinterpret_cast<const float4 *>(recs + s * kRecord) + lane);
    acc.x = fmaf(o.x, fs, acc.x), acc.y = fmaf(o.y, fs, acc.y), acc.z = fmaf(o.z, fs, acc.z), acc.w = fmaf(o.w, fs, acc.w);
  }
  uint16_t * out = reinterpret_cast<uint16_t *>(a.out) + static_cast<int64_t>(seq) * a.out_row_stride + head * kD + lane * 4;
  const float merged[4] = {acc.x, acc.y, acc.z, acc.w};
#pragma unroll
  for (int e = 0; e < 4; ++e) out[e] = __bfloat16_as_ushort(__float2bfloat16_rn(merged[e] / sum));
}

__global__ void __launch_bounds__(kThreads) paged_decode_kernel(PagedDecodeArgs a, int splits) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  DecodeShared & sh = *reinterpret_cast<DecodeShared *>(smem_raw);
  const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int len = a.seq_lens[seq];
  const int chunk = ((len + splits - 1) / splits + 31) / 32 * 32;
  const int t_begin = split * chunk, t_end = min(len, t_begin + chunk);

  const float scale = kLog2e * rsqrtf(static_cast<float>(kD)) * a.q_scale;
  const uint16_t * q = reinterpret_cast<const uint16_t *>(a.q) + static_cast<int64_t>(seq) * a.q_row_stride +
                       kv_head * kG * kD;
  for (int i = threadIdx.x; i < kG * kD; i += kThreads) sh.q[i / kD][i % kD] = cuda::bf16_bits_to_float(q[i]) * scale;
  __syncthreads();

  float m[kG], l[kG], o[kG][4];
#pragma unroll
  for (int h = 0; h < kG; ++h) {
    m[h] = -INFINITY, l[h] = 0.f;
#pragma unroll
    for (int e = 0; e < 4; ++e) o[h][e] = 0.f;
  }
  const uint16_t * kbase = reinterpret_cast<const uint16_t *>(a.cache.k);
  const uint16_t * vbase = reinterpret_cast<const uint16_t *>(a.cache.v);
  for (int t0 = t_begin + warp * 32; t0 < t_end; t0 += kWarps * 32) {
    const int t = t0 + lane;
    const bool valid = t < t_end;
    float s[kG];
#pragma unroll
    for (int h = 0; h < kG; ++h) s[h] = 0.f;
    // invalid lanes use token t0's rows (valid): their probability is 0
    const int t_row = valid ? t : t0;
    const uint16_t * vrow = cache_row(vbase, a.cache, seq, t_row, kv_head);
    if (valid) {
      const uint16_t * krow = cache_row(kbase, a.cache, seq, t_row, kv_head);
      uint4 kr[kD / 16];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
#pragma unroll
      for (int c = 0; c < kD / 16; ++c) kr[c] = reinterpret_cast<const uint4 *>(krow)[half * (kD / 16) + c];  // all in flight
#pragma unroll
      for (int cc = 0; cc < kD / 16; ++cc) {
        const int c = half * (kD / 16) + cc;
        const uint4 u = kr[cc];
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
        float kf[8];
#pragma unroll
        for (int e = 0; e < 4; ++e) kf[2 * e] = cuda::bf16_bits_to_float(w[e] & 0xffffu), kf[2 * e + 1] = cuda::bf16_bits_to_float(w[e] >> 16);
#pragma unroll
        for (int h = 0; h < kG; ++h) {
          const float4 q0 = *reinterpret_cast<const float4 *>(&sh.q[h][c * 8]);
          const float4 q1 = *reinterpret_cast<const float4 *>(&sh.q[h][c * 8 + 4]);
          s[h] += q0.x * kf[0] + q0.y * kf[1] + q0.z * kf[2] + q0.w * kf[3] + q1.x * kf[4] + q1.y * kf[5] +
                  q1.z * kf[6] + q1.w * kf[7];
        }
      }
      }
    } else {
#pragma unroll
      for (int h = 0; h < kG; ++h) s[h] = -INFINITY;
    }
    // online softmax over this group of 32 tokens, per head
#pragma unroll
    for (int h = 0; h < kG; ++h) {
      float mx = s[h];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = fmaxf(m[h], mx);  // finite: lane 0's token is valid
      const float p = exp2f(s[h] - m_new);
      float sum = p;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      const float correction = exp2f(m[h] - m_new);
      l[h] = l[h] * correction + sum;
      m[h] = m_new;
#pragma unroll
      for (int e = 0; e < 4; ++e) o[h][e] *= correction;
      sh.p[warp][lane][h] = p;
    }
    __syncwarp();
    // o += p v over the 32 tokens, 8 v rows in flight at a time (invalid tokens have p = 0)
#pragma unroll
    for (int j0 = 0; j0 < 32; j0 += 8) {
      uint2 vr[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const uint16_t * vj = reinterpret_cast<const uint16_t *>(
            __shfl_sync(0xffffffffu, reinterpret_cast<unsigned long long>(vrow), j0 + j));
        vr[j] = reinterpret_cast<const uint2 *>(vj)[lane];
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float vf[4] = {cuda::bf16_bits_to_float(vr[j].x & 0xffffu), cuda::bf16_bits_to_float(vr[j].x >> 16),
                             cuda::bf16_bits_to_float(vr[j].y & 0xffffu), cuda::bf16_bits_to_float(vr[j].y >> 16)};
        const float4 p0 = *reinterpret_cast<const float4 *>(&sh.p[warp][j0 + j][0]);
        const float4 p1 = *reinterpret_cast<const float4 *>(&sh.p[warp][j0 + j][4]);
        const float pj[kG] = {p0.x, p0.y, p0.z, p0.w, p1.x, p1.y, p1.z, p1.w};
#pragma unroll
        for (int h = 0; h < kG; ++h)
#pragma unroll
          for (int e = 0; e < 4; ++e) o[h][e] = fmaf(pj[h], vf[e], o[h][e]);
      }
    }
    __syncwarp();  // sh.p is rewritten by the next group
  }

  // merge the warps
#pragma unroll
  for (int h = 0; h < kG; ++h) {
    *reinterpret_cast<float4 *>(&sh.o[warp][h][lane * 4]) = make_float4(o[h][0], o[h][1], o[h][2], o[h][3]);
    if (lane == 0) sh.m[warp][h] = m[h], sh.l[warp][h] = l[h];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kG * kD; i += kThreads) {
    const int h = i / kD, d = i % kD;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sh.m[w][h]);
    float sum = 0.f, acc = 0.f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float f = exp2f(sh.m[w][h] - mx);  // 0 for warps that saw no token
        sum += sh.l[w][h] * f;
        acc += sh.o[w][h][d] * f;
      }
    }
    const int head = kv_head * kG + h;
    if (splits == 1) {
      a.out[static_cast<int64_t>(seq) * a.out_row_stride + head * kD + d] =
          __bfloat16_as_ushort(__float2bfloat16_rn(acc / sum));
    } else {
      float * rec = a.workspace + ((static_cast<int64_t>(seq) * a.n_heads + head) * splits + split) * kRecord;
      rec[d] = acc;
      if (d == 0) rec[kD] = mx, rec[kD + 1] = sum;
    }
  }
  if (splits == 1) return;
  // The last block of this (sequence, kv head) to finish merges the splits of its 8 heads.
  __shared__ bool last;
  __threadfence();  // this block's records are visible device-wide before it is counted
  __syncthreads();
  unsigned * counter = a.split_counters + static_cast<int64_t>(seq) * a.cache.n_kv_heads + kv_head;
  if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == static_cast<unsigned>(splits) - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();  // and the other blocks' records are seen after their counts
  merge_splits(a, splits, seq, kv_head * kG + warp);  // one warp per query head of the group
  if (threadIdx.x == 0) *counter = 0u;  // ready for the next launch (graph replays reuse the counters)
}


int choose_splits(int n_seqs, int n_kv_heads, int max_seq_len) {
  const int by_length = (max_seq_len + kMinSplitTokens - 1) / kMinSplitTokens;
  const int by_blocks = (kTargetBlocks + n_seqs * n_kv_heads - 1) / (n_seqs * n_kv_heads);
  return std::max(1, std::min({by_length, by_blocks, kMaxSplits}));
}

Status check_cache(const char * name, const PagedKvCache & c, int n_heads) {
  M1_RETURN_IF_ERROR(cuda::require(c.k && c.v && c.block_table, name, "cache k, v and block_table must be set"));
  M1_RETURN_IF_ERROR(cuda::require(c.page_size > 0 && c.max_pages > 0, name, "page_size and max_pages must be positive"));
  M1_RETURN_IF_ERROR(cuda::require(c.n_kv_heads > 0 && n_heads == kG * c.n_kv_heads, name,
                                   "n_heads " + std::to_string(n_heads) + " must be 8 x n_kv_heads (" +
                                       std::to_string(c.n_kv_heads) + ")"));
  return cuda::require(cuda::aligned16(c.k) && cuda::aligned16(c.v), name, "cache k and v must be 16-byte aligned");
}

}  // namespace

std::size_t paged_decode_workspace_bytes(int n_seqs, int n_heads, int max_seq_len, int splits) {
  if (n_seqs <= 0 || n_heads <= 0) return 0;
  if (splits <= 0) splits = choose_splits(n_seqs, std::max(1, n_heads / kG), max_seq_len);
  if (splits == 1) return 0;
  return static_cast<std::size_t>(n_seqs) * n_heads * splits * kRecord * sizeof(float);
}

Status rope_append(const RopeAppendArgs & a, Stream stream) {
  constexpr const char * kName = "rope_append";
  M1_RETURN_IF_ERROR(cuda::require(a.n_tokens > 0, kName, "n_tokens must be positive"));
  M1_RETURN_IF_ERROR(check_cache(kName, a.cache, a.n_heads));
  M1_RETURN_IF_ERROR(cuda::require(a.rotary_dim > 0 && a.rotary_dim % 2 == 0 && a.rotary_dim <= kD, kName,
                                   "rotary_dim " + std::to_string(a.rotary_dim) + " must be even and in [2, 128]"));
  M1_RETURN_IF_ERROR(cuda::require(a.q && a.k && a.v && a.token_seq && a.token_pos, kName,
                                   "q, k, v, token_seq and token_pos must be set"));
  M1_RETURN_IF_ERROR(cuda::require(a.q_row_stride >= static_cast<int64_t>(a.n_heads) * kD &&
                                       a.kv_row_stride >= static_cast<int64_t>(a.cache.n_kv_heads) * kD,
                                   kName, "row strides must cover all heads"));
  rope_append_kernel<<<dim3(a.n_tokens, a.cache.n_kv_heads), 256, 0, static_cast<cudaStream_t>(stream)>>>(a);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

Status paged_decode(const PagedDecodeArgs & a, Stream stream) {
  constexpr const char * kName = "paged_decode";
  M1_RETURN_IF_ERROR(cuda::require(a.n_seqs > 0 && a.n_seqs <= 65535, kName, "n_seqs must be in [1, 65535]"));
  M1_RETURN_IF_ERROR(check_cache(kName, a.cache, a.n_heads));
  M1_RETURN_IF_ERROR(cuda::require(a.q && a.seq_lens && a.out, kName, "q, seq_lens and out must be set"));
  M1_RETURN_IF_ERROR(cuda::require(a.max_seq_len > 0 && a.max_seq_len <= a.cache.max_pages * a.cache.page_size, kName,
                                   "max_seq_len " + std::to_string(a.max_seq_len) + " must be in [1, max_pages x page_size]"));
  M1_RETURN_IF_ERROR(cuda::require(a.q_row_stride >= static_cast<int64_t>(a.n_heads) * kD &&
                                       a.out_row_stride >= static_cast<int64_t>(a.n_heads) * kD,
                                   kName, "row strides must cover all heads"));
  const int splits = a.splits > 0 ? a.splits : choose_splits(a.n_seqs, a.cache.n_kv_heads, a.max_seq_len);
  M1_RETURN_IF_ERROR(cuda::require(splits <= kMaxSplits, kName, "splits must be at most 32"));
  M1_RETURN_IF_ERROR(cuda::require(splits == 1 || (a.workspace != nullptr && a.split_counters != nullptr), kName,
                                   "a split decode needs paged_decode_workspace_bytes() of workspace and "
                                   "n_seqs x n_kv_heads zeroed split counters"));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  constexpr int kSmem = sizeof(DecodeShared);
  M1_CUDA_STATUS(cudaFuncSetAttribute(paged_decode_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  paged_decode_kernel<<<dim3(splits, a.cache.n_kv_heads, a.n_seqs), kThreads, kSmem, s>>>(a, splits);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
