// sample_rows (kernels/sampling_gpu.h): one block of 512 threads per logit row.
//
// Every id gets a 64-bit key: the logit's bits mapped to an unsigned order (high half) and the
// inverted id (low half), so larger key = more likely, ties to the lower id, and no two keys are
// equal. Each rule of the CPU sampler that walks the sorted candidates ("the k-th", "the first
// whose cumulative mass reaches x") becomes a radix descent over the keys: 4 bits per pass, each
// pass summing the mass (and count) of the members under the current prefix per next digit, the
// digits taken from the most likely down, until one member is left. No sort, no atomics: per
// thread sums in a fixed order, then a fixed reduction tree, so a row always gives the same
// answer. A block's passes are bound by the latency of its loads: the loops over the row are
// unrolled so each thread has several loads in flight (the order of its sums is unchanged).
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/check.h"
#include "kernels/sampling_gpu.h"

namespace m1::kernels::gpu {

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kDigits = 16;  // 4 bits per radix pass
constexpr int kLoads = 4;    // loads in flight per thread in the radix passes
constexpr unsigned kFull = 0xffffffffu;

__device__ std::uint32_t ordered_bits(float f) {
  const std::uint32_t u = __float_as_uint(f == 0.0f ? 0.0f : f);  // -0 sorts with +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ std::uint64_t make_key(float value, int id) {
  return (std::uint64_t(ordered_bits(value)) << 32) | std::uint32_t(0xffffffffu - std::uint32_t(id));
}

__device__ float key_value(std::uint64_t key) {
  const std::uint32_t o = std::uint32_t(key >> 32);
  return __uint_as_float((o & 0x80000000u) ? (o & 0x7fffffffu) : ~o);
}

__device__ int key_id(std::uint64_t key) { return int(0xffffffffu - std::uint32_t(key)); }

// The block's shared scratch for reductions.
struct Shared {
  double d[kWarps * kDigits];
  int i[kWarps * kDigits];
  unsigned long long k[kWarps];
};

// Max (or min) of a key over the block; every thread gets it.
__device__ std::uint64_t block_max(std::uint64_t v, Shared & sh, bool take_min = false) {
  for (int o = 16; o > 0; o >>= 1) {
    const std::uint64_t other = __shfl_xor_sync(kFull, (unsigned long long)v, o);
    v = take_min ? (other < v ? other : v) : (other > v ? other : v);
  }
  if ((threadIdx.x & 31) == 0) sh.k[threadIdx.x / 32] = v;
  __syncthreads();
  std::uint64_t r = sh.k[0];
  for (int w = 1; w < kWarps; ++w) r = take_min ? (sh.k[w] < r ? sh.k[w] : r) : (sh.k[w] > r ? sh.k[w] : r);
  __syncthreads();
  return r;
}

// Sums of kDigits doubles and ints over the block, in a fixed order; every thread gets them.
__device__ void block_sums(double (&m)[kDigits], int (&c)[kDigits], Shared & sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
#pragma unroll
  for (int d = 0; d < kDigits; ++d) {
    for (int o = 16; o > 0; o >>= 1) {
      m[d] += __shfl_xor_sync(kFull, m[d], o);
      c[d] += __shfl_xor_sync(kFull, c[d], o);
    }
    if (lane == 0) sh.d[warp * kDigits + d] = m[d], sh.i[warp * kDigits + d] = c[d];
  }
  __syncthreads();
#pragma unroll
  for (int d = 0; d < kDigits; ++d) {
    m[d] = sh.d[d];
    c[d] = sh.i[d];
    for (int w = 1; w < kWarps; ++w) m[d] += sh.d[w * kDigits + d], c[d] += sh.i[w * kDigits + d];
  }
  __syncthreads();
}

__device__ double block_sum(double v, Shared & sh) {
  double m[kDigits] = {v};
  int c[kDigits] = {};
  block_sums(m, c, sh);
  return m[0];
}

// One logit row and its allowed ids.
struct Row {
  const float * logits;
  const std::uint8_t * allowed;
  int vocab;
  __device__ bool ok(int i) const { return !allowed || allowed[i]; }
  __device__ std::uint64_t key(int i) const { return make_key(logits[i], i); }
};

// The most likely member (in key order) whose cumulative weight, counted from the most likely
// down and including itself, reaches `target` (strict: exceeds it). False when none does.
template <typename Member, typename Weight>
__device__ bool find_boundary(const Row & row, Member member, Weight weight, double target, bool strict,
                              std::uint64_t & out, Shared & sh) {
  std::uint64_t prefix = 0;
  double above = 0.0;  // weight of the members before the current prefix
  for (int bits = 0; bits < 64; bits += 4) {
    const int shift = 60 - bits;
    double m[kDigits] = {};
    int c[kDigits] = {};
    // kLoads ids per thread at a time, loaded before any is used; each thread still visits its
    // ids (threadIdx.x + n * kThreads) in increasing order, so its sums do not change.
    for (int base = threadIdx.x; base < row.vocab; base += kLoads * kThreads) {
      float logit[kLoads];
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        const int i = base + u * kThreads;
        logit[u] = i < row.vocab ? row.logits[i] : 0.0f;
      }
      bool take[kLoads];
      int digit[kLoads];
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        const int i = base + u * kThreads;
        const std::uint64_t key = make_key(logit[u], i);
        take[u] = i < row.vocab && (bits == 0 || (key >> (64 - bits)) == (prefix >> (64 - bits))) && member(i, key);
        digit[u] = int(key >> shift) & (kDigits - 1);
      }
      double w[kLoads];
#pragma unroll
      for (int u = 0; u < kLoads; ++u) w[u] = take[u] ? weight(base + u * kThreads) : 0.0;
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        if (!take[u]) continue;
#pragma unroll
        for (int d = 0; d < kDigits; ++d)
          if (d == digit[u]) m[d] += w[u], c[d] += 1;
      }
    }
    block_sums(m, c, sh);
    int found = -1;
    double run = above;
    for (int d = kDigits - 1; d >= 0; --d) {
      if (c[d] == 0) continue;
      const double next = run + m[d];
      if (strict ? next > target : next >= target) {
        found = d;
        break;
      }
      run = next;
    }
    if (found < 0) return false;
    above = run;
    prefix |= std::uint64_t(found) << shift;
    if (c[found] == 1) {  // one member left under the prefix: take its key
      const int kept = bits + 4;
      std::uint64_t best = 0;
      #pragma unroll 4
      for (int i = threadIdx.x; i < row.vocab; i += kThreads) {
        const std::uint64_t key = row.key(i);
        if ((key >> (64 - kept)) == (prefix >> (64 - kept)) && member(i, key)) best = key;
      }
      out = block_max(best, sh);
      return true;
    }
  }
  out = prefix;
  return true;
}

// Temperature sampling with top-k, top-p and min-p (sampling_gpu.h); `best` is the row's first
// key, `n_allowed` its allowed ids. Returns the chosen id.
__device__ int sample_one(const Row & row, const SampleRowParams & p, std::uint64_t best, int n_allowed, double * e,
                          Shared & sh) {
  const double temperature = p.temperature;
  auto allowed = [&](int i, std::uint64_t) { return row.ok(i); };
  std::uint64_t kth = 0;  // members of top-k: key >= kth
  if (p.top_k > 0 && p.top_k < n_allowed)
    find_boundary(row, allowed, [](int) { return 1.0; }, double(p.top_k), false, kth, sh);
  const double max_z = double(key_value(best)) / temperature;
  double sum = 0.0;
  #pragma unroll 4
  for (int i = threadIdx.x; i < row.vocab; i += kThreads) {
    const bool in = row.ok(i) && row.key(i) >= kth;
    e[i] = in ? exp(double(row.logits[i]) / temperature - max_z) : 0.0;
    sum += e[i];
  }
  sum = block_sum(sum, sh);
  auto prob = [&](int i) { return e[i] / sum; };
  std::uint64_t pth = kth;  // members after top-p: key >= pth
  if (p.top_p < 1.0f) {
    auto in_k = [&](int i, std::uint64_t key) { return row.ok(i) && key >= kth; };
    std::uint64_t boundary = 0;
    if (find_boundary(row, in_k, prob, double(p.top_p), false, boundary, sh)) pth = boundary;
  }
  const double p_floor = double(p.min_p) * prob(key_id(best));
  auto kept = [&](int i, std::uint64_t key) {
    return row.ok(i) && key >= pth && (p.min_p <= 0.0f || key == best || prob(i) >= p_floor);
  };
  double total = 0.0;
  std::uint64_t last = ~std::uint64_t(0);
  #pragma unroll 4
  for (int i = threadIdx.x; i < row.vocab; i += kThreads) {
    const std::uint64_t key = row.key(i);
    if (!kept(i, key)) continue;
    total += prob(i);
    last = key < last ? key : last;
  }
  total = block_sum(total, sh);
  last = block_max(last, sh, /*take_min=*/true);
  std::uint64_t chosen = 0;
  if (!find_boundary(row, kept, prob, p.uniform * total, true, chosen, sh)) chosen = last;
  return key_id(chosen);
}

__global__ void __launch_bounds__(kThreads) sample_rows_kernel(SampleArgs a) {
  __shared__ Shared sh;
  const int r = blockIdx.x;
  const Row row{a.logits + std::int64_t(r) * a.row_stride, a.allowed, a.vocab};
  const SampleRowParams p = a.params[r];
  std::uint64_t best = 0;
  int n_allowed = 0;
  #pragma unroll 4
  for (int i = threadIdx.x; i < row.vocab; i += kThreads) {
    if (!row.ok(i)) continue;
    const std::uint64_t key = row.key(i);
    best = key > best ? key : best;
    ++n_allowed;
  }
  best = block_max(best, sh);
  {
    double m[kDigits] = {};
    int c[kDigits] = {n_allowed};
    block_sums(m, c, sh);
    n_allowed = c[0];
  }
  if (n_allowed == 0) {  // precondition broken: say so with an impossible id
    if (threadIdx.x == 0) a.ids[r] = -1, a.logprobs[r] = 0.0f;
    return;
  }
  const double max_logit = double(key_value(best));
  double sum = 0.0;
  #pragma unroll 4
  for (int i = threadIdx.x; i < row.vocab; i += kThreads)
    if (row.ok(i)) sum += exp(double(row.logits[i]) - max_logit);
  const double log_norm = max_logit + log(block_sum(sum, sh));
  int chosen = key_id(best);
  if (p.temperature > 0.0f) chosen = sample_one(row, p, best, n_allowed, a.scratch + std::int64_t(r) * a.vocab, sh);
  if (threadIdx.x == 0) {
    a.ids[r] = chosen;
    a.logprobs[r] = float(double(row.logits[chosen]) - log_norm);
  }
  // Alternatives: the next most likely by (float log-probability, lower id), one pass each.
  std::uint64_t previous = ~std::uint64_t(0);
  for (int t = 0; t < a.n_top; ++t) {
    std::uint64_t next = 0;
    #pragma unroll 4
    for (int i = threadIdx.x; i < row.vocab; i += kThreads) {
      if (!row.ok(i)) continue;
      const std::uint64_t key = make_key(float(double(row.logits[i]) - log_norm), i);
      if (key < previous && key > next) next = key;
    }
    next = block_max(next, sh);
    if (threadIdx.x == 0) {
      a.top_ids[std::int64_t(r) * a.n_top + t] = next ? key_id(next) : -1;
      a.top_logprobs[std::int64_t(r) * a.n_top + t] = next ? key_value(next) : 0.0f;
    }
    previous = next;
  }
}

}  // namespace

std::size_t sample_scratch_bytes(int n_rows, int vocab) { return std::size_t(n_rows) * std::size_t(vocab) * sizeof(double); }

Status sample_rows(const SampleArgs & a, Stream stream) {
  if (a.n_rows <= 0 || a.vocab <= 0 || a.row_stride < a.vocab)
    return Status::error("sample_rows: need n_rows > 0, vocab > 0 and row_stride >= vocab");
  if (a.n_top < 0 || a.n_top > kMaxSampleAlternatives)
    return Status::error("sample_rows: n_top " + std::to_string(a.n_top) + " outside [0, " +
                         std::to_string(kMaxSampleAlternatives) + "]");
  if (!a.logits || !a.params || !a.scratch || !a.ids || !a.logprobs || (a.n_top > 0 && (!a.top_ids || !a.top_logprobs)))
    return Status::error("sample_rows: a device pointer is missing");
  sample_rows_kernel<<<a.n_rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(a);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
