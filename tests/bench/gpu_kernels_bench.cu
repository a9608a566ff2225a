// GPU kernel benchmarks at real M1 dimensions (64 heads x 128, D = 6144, 32 experts top-2), next to
// the two measured ceilings of the card: device-to-device copy bandwidth and a cuBLAS bf16 GEMM.
// Each line: median of many timed runs (CUDA events) after warm-up, on random inputs; inputs that
// would fit in L2 are rotated among several copies.
// Usage: m1_gpu_kernels_bench [--quick] [--moe | --moe-tokens N | --gemv | --lightning | --softmax]
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/activation_gpu.h"
#include "kernels/cuda/check.h"
#include "kernels/lightning_attention_gpu.h"
#include "kernels/gemm_gpu.h"
#include "kernels/moe_gemm_gpu.h"
#include "kernels/moe_routing_gpu.h"
#include "kernels/tensor_ops_gpu.h"
#include "kernels/norm_gpu.h"
#include "kernels/softmax_attention_gpu.h"

namespace {

namespace gpu = m1::kernels::gpu;
using gpu::Bf16;

constexpr int kHeads = 64, kD = 128, kHidden = 6144, kExperts = 32, kTopK = 2, kExpertFfn = 9216;

__device__ uint32_t hash32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

__global__ void fill_bf16(__nv_bfloat16 * p, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = __float2bfloat16(lo + (hi - lo) * (hash32(seed * 0x9e3779b97f4a7c15ull + i) * 2.3283064e-10f));
}

__global__ void fill_f32(float * p, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = lo + (hi - lo) * (hash32(seed * 0x9e3779b97f4a7c15ull + i) * 2.3283064e-10f);
}

template <typename T> T * device_alloc(size_t n) {
  T * p = nullptr;
  M1_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
  return p;
}

Bf16 * random_bf16(size_t n, uint64_t seed, float lo = -0.25f, float hi = 1.0f) {
  Bf16 * p = device_alloc<Bf16>(n);
  fill_bf16<<<1024, 256>>>(reinterpret_cast<__nv_bfloat16 *>(p), n, seed, lo, hi);
  M1_CUDA_CHECK(cudaGetLastError());
  return p;
}

float * random_f32(size_t n, uint64_t seed, float lo, float hi) {
  float * p = device_alloc<float>(n);
  fill_f32<<<1024, 256>>>(p, n, seed, lo, hi);
  M1_CUDA_CHECK(cudaGetLastError());
  return p;
}

void check(const m1::Status & s) {
  if (!s.ok()) {
    std::fprintf(stderr, "m1: bench: %s\n", s.message().c_str());
    std::exit(1);
  }
}

// Times single calls with a pair of CUDA events on the current stream.
class EventTimer {
public:
  EventTimer() {
    M1_CUDA_CHECK(cudaEventCreate(&start_));
    M1_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    M1_CUDA_CHECK(cudaGetLastError());
    M1_CUDA_CHECK(cudaEventDestroy(start_));
    M1_CUDA_CHECK(cudaEventDestroy(stop_));
  }
  double ms(const std::function<void(int)> & fn, int rep) {
    M1_CUDA_CHECK(cudaEventRecord(start_));
    fn(rep);
    M1_CUDA_CHECK(cudaEventRecord(stop_));
    M1_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    M1_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
  }

private:
  cudaEvent_t start_, stop_;
};

double median(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Median milliseconds of `reps` runs of fn(rep) after `warmup` runs, each timed with events.
double median_ms(const std::function<void(int)> & fn, int reps, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) fn(i);
  M1_CUDA_CHECK(cudaDeviceSynchronize());
  EventTimer timer;
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) times.push_back(timer.ms(fn, i));
  return median(times);
}

// Medians of a and b timed in turn (a then b, then b then a, ...), so both see the same clocks and
// temperature: back-to-back medians of long GEMM runs drift by up to ~15% on the H100 (BENCHMARKS.md).
std::pair<double, double> medians_in_turn_ms(const std::function<void(int)> & a, const std::function<void(int)> & b,
                                             int reps, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) a(i), b(i);
  M1_CUDA_CHECK(cudaDeviceSynchronize());
  EventTimer timer;
  std::vector<double> ta, tb;
  for (int i = 0; i < reps; ++i) {
    if (i % 2 == 0) ta.push_back(timer.ms(a, i)), tb.push_back(timer.ms(b, i));
    else tb.push_back(timer.ms(b, i)), ta.push_back(timer.ms(a, i));
  }
  return {median(ta), median(tb)};
}

void print_row(const std::string & name, const std::string & shape, double ms, const std::string & rate,
         const std::string & of_floor) {
  std::printf("%-26s %-22s %10.4f  %-26s %s\n", name.c_str(), shape.c_str(), ms, rate.c_str(), of_floor.c_str());
  std::fflush(stdout);
}

std::string fmt(const char * f, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}

struct Peaks {
  double copy_gbs = 0;
  double gemm_tflops = 0;
};

Peaks measure_peaks(bool quick) {
  Peaks p;
  const size_t bytes = size_t(1) << 31;  // 2 GiB each way
  char * a = device_alloc<char>(bytes);
  char * b = device_alloc<char>(bytes);
  M1_CUDA_CHECK(cudaMemset(a, 1, bytes));
  double ms = median_ms([&](int) { M1_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); }, quick ? 5 : 20);
  p.copy_gbs = 2.0 * bytes / ms / 1e6;
  print_row("copy (peak)", "2 GiB d2d", ms, fmt("%.0f GB/s", p.copy_gbs), "read+write counted");
  M1_CUDA_CHECK(cudaFree(a));
  M1_CUDA_CHECK(cudaFree(b));

  const int n = 8192;
  Bf16 * x = random_bf16(size_t(n) * n, 1, -1, 1);
  Bf16 * y = random_bf16(size_t(n) * n, 2, -1, 1);
  Bf16 * z = device_alloc<Bf16>(size_t(n) * n);
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) check(m1::Status::error("cublasCreate failed"));
  const float one = 1.f, zero = 0.f;
  ms = median_ms([&](int) {
    if (cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, x, CUDA_R_16BF, n, y, CUDA_R_16BF, n, &zero, z,
                     CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS)
      check(m1::Status::error("cublasGemmEx failed"));
  }, quick ? 5 : 20);
  p.gemm_tflops = 2.0 * n * double(n) * n / ms / 1e9;
  print_row("bf16 GEMM (peak)", "8192^3 cuBLAS", ms, fmt("%.0f TFLOP/s", p.gemm_tflops), "random data");
  cublasDestroy(handle);
  M1_CUDA_CHECK(cudaFree(x));
  M1_CUDA_CHECK(cudaFree(y));
  M1_CUDA_CHECK(cudaFree(z));
  return p;
}

float * m1_decays() {  // s(l = 40, h) of M1_SPEC.md section 4 for the 64 heads
  std::vector<float> s(kHeads);
  for (int h = 0; h < kHeads; ++h) s[h] = float(std::pow(2.0, -8.0 * (h + 1) / kHeads) * (1.0 - 40.0 / 79.0 + 1e-5));
  float * d = device_alloc<float>(kHeads);
  M1_CUDA_CHECK(cudaMemcpy(d, s.data(), kHeads * 4, cudaMemcpyHostToDevice));
  return d;
}

// Prefill of n_seqs sequences of seq_len tokens each, packed qkv as the checkpoint lays it out.
// chunk_tokens: -1 = no workspace (unsplit, the path before the sequence split), 0 = the launcher's
// choice with a workspace, > 0 = that chunk length.
void bench_lightning_prefill(const Peaks & peaks, int n_seqs, int seq_len, int value_slice, int reps,
                             int heads = kHeads, bool wgmma = false, int chunk_tokens = -1) {
  const size_t n = size_t(n_seqs) * seq_len;
  const int64_t row = 3 * heads * kD;
  Bf16 * qkv = random_bf16(n * row, 10);
  Bf16 * out = device_alloc<Bf16>(n * heads * kD);
  float * state = device_alloc<float>(size_t(n_seqs) * heads * kD * kD);
  float * decay = m1_decays();  // the first `heads` of the model's 64
  std::vector<int32_t> starts(n_seqs + 1);
  for (int i = 0; i <= n_seqs; ++i) starts[i] = i * seq_len;
  int32_t * d_starts = device_alloc<int32_t>(starts.size());
  M1_CUDA_CHECK(cudaMemcpy(d_starts, starts.data(), starts.size() * 4, cudaMemcpyHostToDevice));
  gpu::LightningPrefillArgs a;
  a.n_seqs = n_seqs;
  a.n_heads = heads;
  a.seq_starts = d_starts;
  a.in = {qkv, qkv + kD, qkv + 2 * kD, row, 3 * kD};
  a.decay = decay;
  a.state = {state, nullptr};
  a.out = out;
  a.out_row_stride = heads * kD;
  a.value_slice = value_slice;
  a.kernel = wgmma ? gpu::LightningPrefillKernel::kWgmma : gpu::LightningPrefillKernel::kMmaSync;
  float * workspace = nullptr;
  int chunks = 1;
  if (chunk_tokens >= 0) {
    const size_t bytes = gpu::lightning_prefill_workspace_bytes(n_seqs, heads, seq_len, chunk_tokens);
    if (bytes > 0) {
      workspace = device_alloc<float>(bytes / 4);
      a.workspace = workspace;
      a.max_seq_len = seq_len;
      a.chunk_tokens = chunk_tokens;
      const int tokens = chunk_tokens > 0 ? chunk_tokens : gpu::lightning_prefill_chunk_tokens(n_seqs, heads, seq_len);
      chunks = (seq_len + tokens - 1) / tokens;
    }
  }
  M1_CUDA_CHECK(cudaMemset(state, 0, size_t(n_seqs) * heads * kD * kD * 4));
  // Each run continues from the state the last one left (bounded: every head decays).
  double ms = median_ms([&](int) { check(gpu::lightning_prefill(a, nullptr)); }, reps);
  const double flops_recurrence = 4.0 * n * heads * kD * kD;
  const double flops_block = n * heads * (4.0 * kD * kD + 2.0 * kD * 65);
  const double bytes = n * (row + heads * kD) * 2.0 + 2.0 * n_seqs * heads * kD * kD * 4;
  const double floor_ms = std::max(bytes / (peaks.copy_gbs * 1e6), flops_block / (peaks.gemm_tflops * 1e9));
  std::string shape = std::to_string(n_seqs) + "x" + std::to_string(seq_len / 1024) + "K" +
                      (heads != kHeads ? " " + std::to_string(heads) + "h" : std::string()) + " slice " +
                      (value_slice ? std::to_string(value_slice) : std::string("auto")) + (wgmma ? " wgmma" : "") +
                      (chunk_tokens >= 0 ? " split " + std::to_string(chunks) : std::string());
  print_row("lightning prefill", shape, ms,
      fmt("%.0f TF/s 4nHd^2, ", flops_recurrence / ms / 1e9) + fmt("%.0f block", flops_block / ms / 1e9),
      fmt("floor %.3f ms", floor_ms) + fmt(" (%.0f%%)", 100 * floor_ms / ms));
  M1_CUDA_CHECK(cudaFree(qkv));
  M1_CUDA_CHECK(cudaFree(out));
  M1_CUDA_CHECK(cudaFree(state));
  M1_CUDA_CHECK(cudaFree(decay));
  M1_CUDA_CHECK(cudaFree(d_starts));
  if (workspace != nullptr) M1_CUDA_CHECK(cudaFree(workspace));
}

// The lightning prefill rows before and after the sequence split (issue 9), in one run.
void bench_lightning_split(const Peaks & peaks, bool quick, int reps) {
  const int long_reps = quick ? 3 : 10;
  for (int chunk : {-1, 0}) {  // unsplit, then the launcher's choice with a workspace
    bench_lightning_prefill(peaks, 1, 4096, 64, reps, kHeads, false, chunk);
    bench_lightning_prefill(peaks, 1, 32768, 64, reps, kHeads, false, chunk);
    bench_lightning_prefill(peaks, 8, 4096, 64, reps, kHeads, false, chunk);
    bench_lightning_prefill(peaks, 1, 131072, 64, long_reps, kHeads, false, chunk);
    bench_lightning_prefill(peaks, 1, 32768, 0, reps, 8, false, chunk);
    bench_lightning_prefill(peaks, 1, 4096, 0, reps, 8, false, chunk);
  }
  bench_lightning_prefill(peaks, 1, 32768, 32, reps, 8, false);
  bench_lightning_prefill(peaks, 1, 32768, 32, reps, 8, false, 0);
  bench_lightning_prefill(peaks, 1, 32768, 64, reps, 8, false, 2048);   // 16 chunks
  bench_lightning_prefill(peaks, 1, 32768, 64, reps, 8, false, 8192);   // 4 chunks
  bench_lightning_prefill(peaks, 1, 32768, 64, reps, kHeads, false, 16384);  // 2 chunks at 64 heads
  // The wgmma kernel (producer warpgroup, state and outputs on wgmma), unsplit and split.
  bench_lightning_prefill(peaks, 1, 4096, 64, reps, kHeads, true);
  bench_lightning_prefill(peaks, 1, 32768, 64, reps, kHeads, true);
  bench_lightning_prefill(peaks, 8, 4096, 64, reps, kHeads, true);
  bench_lightning_prefill(peaks, 1, 131072, 64, long_reps, kHeads, true);
  bench_lightning_prefill(peaks, 1, 32768, 64, reps, 8, true, 0);
  bench_lightning_prefill(peaks, 1, 4096, 64, reps, 8, true, 0);
}

// One decode step for `batch` sequences; state slots rotate through a pool larger than L2.
void bench_lightning_decode(const Peaks & peaks, int batch, int reps) {
  const int pool = std::max(64, batch);  // 64 slots x 4 MiB = 256 MiB, five times the L2
  const int rotations = pool / batch;
  const int64_t row = 3 * kHeads * kD;
  Bf16 * qkv = random_bf16(size_t(batch) * row, 20);
  Bf16 * out = device_alloc<Bf16>(size_t(batch) * kHeads * kD);
  float * state = random_f32(size_t(pool) * kHeads * kD * kD, 21, -1, 1);
  float * decay = m1_decays();
  std::vector<int32_t> slots(size_t(rotations) * batch);
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = int32_t(i);
  int32_t * d_slots = device_alloc<int32_t>(slots.size());
  M1_CUDA_CHECK(cudaMemcpy(d_slots, slots.data(), slots.size() * 4, cudaMemcpyHostToDevice));
  gpu::LightningDecodeArgs a;
  a.n_seqs = batch;
  a.n_heads = kHeads;
  a.in = {qkv, qkv + kD, qkv + 2 * kD, row, 3 * kD};
  a.decay = decay;
  a.out = out;
  a.out_row_stride = kHeads * kD;
  double ms = median_ms([&](int rep) {
    a.state = {state, d_slots + size_t(rep % rotations) * batch};
    check(gpu::lightning_decode(a, nullptr));
  }, reps, 5);
  const double bytes = batch * (2.0 * kHeads * kD * kD * 4 + (row + kHeads * kD) * 2.0);
  print_row("lightning decode", "batch " + std::to_string(batch) + ", 64 heads", ms,
      fmt("%.0f GB/s", bytes / ms / 1e6), fmt("%.0f%% of copy", 100 * bytes / ms / 1e6 / peaks.copy_gbs));
  M1_CUDA_CHECK(cudaFree(qkv));
  M1_CUDA_CHECK(cudaFree(out));
  M1_CUDA_CHECK(cudaFree(state));
  M1_CUDA_CHECK(cudaFree(decay));
  M1_CUDA_CHECK(cudaFree(d_slots));
}

void report_bytes(const Peaks & peaks, const std::string & name, const std::string & shape, double ms, double bytes) {
  print_row(name, shape, ms, fmt("%.0f GB/s", bytes / ms / 1e6), fmt("%.0f%% of copy", 100 * bytes / ms / 1e6 / peaks.copy_gbs));
}

void bench_norms_and_activations(const Peaks & peaks, int n, int reps) {
  const int hd = kHeads * kD, ffn = 9216;
  Bf16 * a = random_bf16(size_t(n) * hd, 30, -2, 2);
  Bf16 * b = random_bf16(size_t(n) * hd, 31, -2, 2);
  Bf16 * w = random_bf16(hd, 32, 0.5, 1.5);
  Bf16 * out = device_alloc<Bf16>(size_t(n) * 2 * ffn);
  gpu::ResidualRmsNormArgs r;
  r.n_rows = n;
  r.width = kHidden;
  r.skip = a;
  r.skip_stride = kHidden;
  r.branch = b;
  r.branch_stride = kHidden;
  r.alpha = 3.5565588f;
  r.weight = w;
  r.out = out;
  r.out_stride = kHidden;
  double ms = median_ms([&](int) { check(gpu::residual_rms_norm(r, nullptr)); }, reps);
  report_bytes(peaks, "residual rms norm", std::to_string(n) + " x 6144", ms, 3.0 * n * kHidden * 2);

  gpu::GatedRmsNormArgs g;
  g.n_rows = n;
  g.width = hd;
  g.in = a;
  g.in_stride = hd;
  g.gate = b;
  g.gate_stride = hd;
  g.weight = w;
  g.out = out;
  g.out_stride = hd;
  ms = median_ms([&](int) { check(gpu::gated_rms_norm(g, nullptr)); }, reps);
  report_bytes(peaks, "gated rms norm", std::to_string(n) + " x 8192", ms, 3.0 * n * hd * 2);

  const int swiglu_rows = int(size_t(n) * hd / (2 * ffn));  // gate|up rows of 2 x 9216 that fit in buffer a
  gpu::SwigluArgs s;
  s.n_rows = swiglu_rows;
  s.width = ffn;
  s.gate = a;
  s.gate_stride = 2 * ffn;
  s.up = a + ffn;
  s.up_stride = 2 * ffn;
  s.out = out;
  s.out_stride = ffn;
  ms = median_ms([&](int) { check(gpu::swiglu(s, nullptr)); }, reps);
  report_bytes(peaks, "swiglu", std::to_string(swiglu_rows) + " x 9216", ms, 3.0 * swiglu_rows * ffn * 2);
  M1_CUDA_CHECK(cudaFree(a));
  M1_CUDA_CHECK(cudaFree(b));
  M1_CUDA_CHECK(cudaFree(w));
  M1_CUDA_CHECK(cudaFree(out));
}

void bench_moe_routing(const Peaks & peaks, int n, int reps) {
  float * logits = random_f32(size_t(n) * kExperts, 40, -3, 3);
  int32_t * experts = device_alloc<int32_t>(size_t(n) * kTopK);
  float * weights = device_alloc<float>(size_t(n) * kTopK);
  Bf16 * x = random_bf16(size_t(n) * kHidden, 41, -2, 2);
  Bf16 * permuted = device_alloc<Bf16>(size_t(n) * kTopK * kHidden);
  int32_t * offsets = device_alloc<int32_t>(kExperts + 1);
  int32_t * rows = device_alloc<int32_t>(size_t(n) * kTopK);
  Bf16 * out = device_alloc<Bf16>(size_t(n) * kHidden);
  gpu::MoeRouteArgs ra{n, kExperts, kTopK, logits, experts, weights};
  double ms = median_ms([&](int) { check(gpu::moe_route(ra, nullptr)); }, reps);
  print_row("moe route", std::to_string(n) + " x 32, top 2", ms, fmt("%.1f us", ms * 1e3), "");
  gpu::MoePermuteArgs pa;
  pa.n_tokens = n;
  pa.n_experts = kExperts;
  pa.top_k = kTopK;
  pa.width = kHidden;
  pa.experts = experts;
  pa.in = x;
  pa.in_stride = kHidden;
  pa.permuted = permuted;
  pa.expert_offsets = offsets;
  pa.entry_rows = rows;
  ms = median_ms([&](int) { check(gpu::moe_permute(pa, nullptr)); }, reps);
  report_bytes(peaks, "moe permute", std::to_string(n) + " x 6144, top 2", ms, 3.0 * n * kHidden * 2);
  gpu::MoeUnpermuteArgs ua;
  ua.n_tokens = n;
  ua.top_k = kTopK;
  ua.width = kHidden;
  ua.expert_out = permuted;
  ua.entry_rows = rows;
  ua.weights = weights;
  ua.out = out;
  ua.out_stride = kHidden;
  ms = median_ms([&](int) { check(gpu::moe_unpermute(ua, nullptr)); }, reps);
  report_bytes(peaks, "moe unpermute", std::to_string(n) + " x 6144, top 2", ms, 3.0 * n * kHidden * 2);
  for (void * p : {(void *)logits, (void *)experts, (void *)weights, (void *)x, (void *)permuted, (void *)offsets,
                   (void *)rows, (void *)out})
    M1_CUDA_CHECK(cudaFree(p));
}

// The MoE layer at real M1 dimensions: n tokens routed by random fp32 logits to 32 experts of
// 9216 (top 2). One MoE is the buffers and weights of one layer; run() does route, permute, the
// grouped expert GEMMs (w1/w3 fused with SwiGLU, then w2) and the weighted un-permute.
struct MoeLayer {
  int n = 0;
  float * logits = nullptr, * route_w = nullptr;
  int32_t * experts = nullptr, * offsets = nullptr, * rows = nullptr;
  Bf16 * x = nullptr, * permuted = nullptr, * hidden = nullptr, * expert_out = nullptr, * out = nullptr;
  Bf16 * gate_up = nullptr, * down = nullptr;

  MoeLayer(int n_tokens, Bf16 * gate_up_w, Bf16 * down_w) : n(n_tokens), gate_up(gate_up_w), down(down_w) {
    const size_t entries = size_t(n) * kTopK;
    logits = random_f32(size_t(n) * kExperts, 70 + n, -3, 3);
    route_w = device_alloc<float>(entries);
    experts = device_alloc<int32_t>(entries);
    offsets = device_alloc<int32_t>(kExperts + 1);
    rows = device_alloc<int32_t>(entries);
    x = random_bf16(size_t(n) * kHidden, 71, -2, 2);
    permuted = device_alloc<Bf16>(entries * kHidden);
    hidden = device_alloc<Bf16>(entries * 2 * kExpertFfn);  // 2F wide: the unfused path needs it
    expert_out = device_alloc<Bf16>(entries * kHidden);
    out = device_alloc<Bf16>(size_t(n) * kHidden);
  }
  ~MoeLayer() {
    for (void * p : {(void *)logits, (void *)route_w, (void *)experts, (void *)offsets, (void *)rows, (void *)x,
                     (void *)permuted, (void *)hidden, (void *)expert_out, (void *)out})
      M1_CUDA_CHECK(cudaFree(p));
  }
  void route() {
    check(gpu::moe_route({n, kExperts, kTopK, logits, experts, route_w}, nullptr));
    check(gpu::moe_permute({n, kExperts, kTopK, kHidden, experts, x, kHidden, permuted, offsets, rows}, nullptr));
  }
  void expert_gemms(gpu::MoeGemmKernel kernel) {
    gpu::MoeGemmArgs up;
    up.n_rows = n * kTopK, up.n_experts = kExperts, up.n = kExpertFfn, up.k = kHidden, up.swiglu = true;
    up.in = permuted, up.in_stride = kHidden, up.expert_offsets = offsets, up.weights = gate_up, up.out = hidden;
    up.out_stride = kExpertFfn, up.kernel = kernel;
    check(gpu::moe_expert_gemm(up, nullptr));
    gpu::MoeGemmArgs dn = up;
    dn.n = kHidden, dn.k = kExpertFfn, dn.swiglu = false, dn.in = hidden, dn.in_stride = kExpertFfn, dn.weights = down;
    dn.out = expert_out, dn.out_stride = kHidden;
    check(gpu::moe_expert_gemm(dn, nullptr));
  }
  // The path before the grouped GEMMs, which the model keeps for large prefills: offsets to the
  // host, one cuBLAS GEMM per expert, swiglu (kernels/moe_gemm_gpu.h).
  void expert_gemms_host_synced() {
    std::vector<int32_t> off(kExperts + 1);
    check(gpu::copy_to_host(off.data(), offsets, off.size() * 4));
    gpu::MoePerExpertArgs a;
    a.n_rows = n * kTopK, a.n_experts = kExperts, a.width = kHidden, a.ffn = kExpertFfn, a.host_offsets = off.data();
    a.in = permuted, a.in_stride = kHidden, a.gate_up = gate_up, a.down = down, a.hidden = hidden;
    a.out = expert_out, a.out_stride = kHidden;
    check(gpu::moe_expert_gemms_per_expert(a, nullptr));
  }
  // What the model runs at n tokens (model/gpu_forward.cpp, same threshold).
  void expert_gemms_models_choice() {
    if (n >= gpu::kMoePerExpertMinTokens) expert_gemms_host_synced();
    else expert_gemms(gpu::MoeGemmKernel::automatic);
  }
  void unpermute() { check(gpu::moe_unpermute({n, kTopK, kHidden, expert_out, rows, route_w, out, kHidden}, nullptr)); }
  int experts_used() {
    std::vector<int32_t> off(kExperts + 1);
    check(gpu::copy_to_host(off.data(), offsets, off.size() * 4));
    int used = 0;
    for (int e = 0; e < kExperts; ++e) used += off[e + 1] > off[e];
    return used;
  }
};

struct ExpertWeights {
  Bf16 * gate_up = random_bf16(size_t(kExperts) * 2 * kExpertFfn * kHidden, 80, -0.02f, 0.02f);
  Bf16 * down = random_bf16(size_t(kExperts) * kHidden * kExpertFfn, 81, -0.02f, 0.02f);
  ~ExpertWeights() {
    M1_CUDA_CHECK(cudaFree(gate_up));
    M1_CUDA_CHECK(cudaFree(down));
  }
};

// Prefill: the whole layer and the expert GEMMs alone in useful TFLOP/s (6 n k D F), next to cuBLAS
// doing the same FLOPs as two dense GEMMs ([nk x D] x [D x 2F], [nk x F] x [F x D]) in this run.
void bench_moe_prefill(const Peaks & peaks, const ExpertWeights & w, int n, int reps) {
  MoeLayer moe(n, w.gate_up, w.down);
  const double flops = 6.0 * n * kTopK * double(kHidden) * kExpertFfn;
  const std::string shape = std::to_string(n / 1024) + "K tokens, 32 x 9216";
  const int rows = n * kTopK;
  gpu::GemmArgs d1;
  d1.m = rows, d1.n = 2 * kExpertFfn, d1.k = kHidden, d1.a = moe.permuted, d1.lda = kHidden, d1.b = w.gate_up;
  d1.ldb = kHidden, d1.c = moe.hidden, d1.ldc = 2 * kExpertFfn;
  gpu::GemmArgs d2;
  d2.m = rows, d2.n = kHidden, d2.k = kExpertFfn, d2.a = moe.hidden, d2.lda = 2 * kExpertFfn, d2.b = w.down;
  d2.ldb = kExpertFfn, d2.c = moe.expert_out, d2.ldc = kHidden;
  moe.route();
  const auto dense = [&](int) {
    check(gpu::gemm_nt(d1, nullptr));
    check(gpu::gemm_nt(d2, nullptr));
  };
  const double dense_ms = median_ms(dense, reps);
  const double dense_tf = flops / dense_ms / 1e9;
  print_row("dense cuBLAS, same FLOPs", shape, dense_ms, fmt("%.0f TFLOP/s", dense_tf),
            fmt("%.0f%% of GEMM peak", 100 * dense_tf / peaks.gemm_tflops));
  double ms = median_ms([&](int) { moe.expert_gemms(gpu::MoeGemmKernel::tensor); }, reps);
  print_row("moe expert GEMMs (grouped)", shape, ms, fmt("%.0f TFLOP/s", flops / ms / 1e9),
            fmt("%.0f%% of dense", 100 * dense_ms / ms));
  ms = median_ms([&](int) {
    moe.route();
    moe.expert_gemms(gpu::MoeGemmKernel::automatic);
    moe.unpermute();
  }, reps);
  print_row("moe layer (grouped)", shape, ms, fmt("%.0f TFLOP/s", flops / ms / 1e9), fmt("%.0f%% of dense", 100 * dense_ms / ms));
  ms = median_ms([&](int) {
    moe.route();
    moe.expert_gemms_host_synced();
    moe.unpermute();
  }, reps);
  print_row("moe layer (per-expert cuBLAS)", shape, ms, fmt("%.0f TFLOP/s", flops / ms / 1e9),
            fmt("%.0f%% of dense, host sync", 100 * dense_ms / ms));
  ms = median_ms([&](int) {
    moe.route();
    moe.expert_gemms_models_choice();
    moe.unpermute();
  }, reps);
  print_row("moe layer (model's choice)", shape, ms, fmt("%.0f TFLOP/s", flops / ms / 1e9),
            fmt("%.0f%% of dense", 100 * dense_ms / ms) + (n >= gpu::kMoePerExpertMinTokens ? ", per-expert" : ", grouped"));
  // The same comparison with dense and the layer timed in turn (the rows above ran one after another).
  const auto [dense_in_turn, layer_in_turn] = medians_in_turn_ms(dense, [&](int) {
    moe.route();
    moe.expert_gemms_models_choice();
    moe.unpermute();
  }, reps);
  print_row("moe layer, timed in turn", shape, layer_in_turn, fmt("%.0f TFLOP/s", flops / layer_in_turn / 1e9),
            fmt("%.0f%% of dense", 100 * dense_in_turn / layer_in_turn) + fmt(" (%.4f ms, same turns)", dense_in_turn));
}

// Decode batches: bytes = the weights of the experts the batch touches (each read once).
void bench_moe_decode(const Peaks & peaks, const ExpertWeights & w, int n, int reps) {
  MoeLayer moe(n, w.gate_up, w.down);
  moe.route();
  const int used = moe.experts_used();
  const double bytes = used * 3.0 * kHidden * kExpertFfn * 2;
  for (gpu::MoeGemmKernel kernel : {gpu::MoeGemmKernel::streaming, gpu::MoeGemmKernel::tensor}) {
    const double ms = median_ms([&](int) { moe.expert_gemms(kernel); }, reps);
    report_bytes(peaks, kernel == gpu::MoeGemmKernel::streaming ? "moe expert GEMMs streaming" : "moe expert GEMMs tensor",
                 "batch " + std::to_string(n) + ", " + std::to_string(used) + " experts", ms, bytes);
  }
}

// Softmax attention decode over a paged KV cache: batch sequences of ctx tokens, 64 q / 8 kv heads,
// pages of 64 tokens handed out in shuffled order; the bytes are the K/V rows read.
void bench_paged_decode(const Peaks & peaks, int batch, int ctx, int reps) {
  constexpr int kKv = 8, kPage = 64;
  const int pages_per_seq = (ctx + kPage - 1) / kPage, n_pages = batch * pages_per_seq;
  const size_t cache_elems = size_t(n_pages) * kPage * kKv * kD;
  Bf16 * k = random_bf16(cache_elems, 50, -1, 1);
  Bf16 * v = random_bf16(cache_elems, 51, -1, 1);
  Bf16 * q = random_bf16(size_t(batch) * kHeads * kD, 52, -1, 1);
  Bf16 * out = device_alloc<Bf16>(size_t(batch) * kHeads * kD);
  std::vector<int32_t> table(n_pages), lens(batch, ctx);
  for (int i = 0; i < n_pages; ++i) table[i] = i;
  for (int i = n_pages - 1; i > 0; --i) std::swap(table[i], table[(i * 2654435761u) % (i + 1)]);
  int32_t * d_table = device_alloc<int32_t>(n_pages);
  int32_t * d_lens = device_alloc<int32_t>(batch);
  M1_CUDA_CHECK(cudaMemcpy(d_table, table.data(), n_pages * 4, cudaMemcpyHostToDevice));
  M1_CUDA_CHECK(cudaMemcpy(d_lens, lens.data(), batch * 4, cudaMemcpyHostToDevice));
  const size_t ws_bytes = gpu::paged_decode_workspace_bytes(batch, kHeads, ctx);
  float * ws = device_alloc<float>(ws_bytes / 4 + 4);
  gpu::PagedDecodeArgs a;
  a.n_seqs = batch;
  a.n_heads = kHeads;
  a.q = q;
  a.q_row_stride = kHeads * kD;
  a.seq_lens = d_lens;
  a.max_seq_len = ctx;
  a.cache = {k, v, kPage, kKv, d_table, pages_per_seq};
  a.out = out;
  a.out_row_stride = kHeads * kD;
  a.workspace = ws;
  unsigned * counters = device_alloc<unsigned>(size_t(batch) * kKv);
  M1_CUDA_CHECK(cudaMemset(counters, 0, size_t(batch) * kKv * 4));
  a.split_counters = counters;
  const double bytes = double(batch) * ctx * kKv * kD * 2 * 2;
  const double ms = median_ms([&](int) { check(gpu::paged_decode(a, nullptr)); }, reps);
  print_row("paged decode (softmax)", "batch " + std::to_string(batch) + " x " + std::to_string(ctx / 1024) + "K", ms,
            fmt("%.0f GB/s", bytes / ms / 1e6), fmt("%.0f%% of copy", 100 * bytes / ms / 1e6 / peaks.copy_gbs));
  for (void * p : {(void *)k, (void *)v, (void *)q, (void *)out, (void *)d_table, (void *)d_lens, (void *)ws, (void *)counters})
    M1_CUDA_CHECK(cudaFree(p));
}

// Causal softmax prefill of one sequence of n tokens (no cached prefix) over a paged cache, 64 q /
// 8 kv heads; FLOPs = 4 * heads * 128 * n (n + 1) / 2 (scores and P V over the causal half).
void bench_paged_prefill(const Peaks & peaks, int n, int reps, gpu::PagedPrefillKernel kernel) {
  constexpr int kKv = 8, kPage = 64;
  const int n_pages = (n + kPage - 1) / kPage;
  const size_t cache_elems = size_t(n_pages) * kPage * kKv * kD;
  Bf16 * k = random_bf16(cache_elems, 60, -1, 1);
  Bf16 * v = random_bf16(cache_elems, 61, -1, 1);
  Bf16 * q = random_bf16(size_t(n) * kHeads * kD, 62, -1, 1);
  Bf16 * out = device_alloc<Bf16>(size_t(n) * kHeads * kD);
  std::vector<int32_t> table(n_pages), starts = {0, n}, pos = {0};
  for (int i = 0; i < n_pages; ++i) table[i] = i;
  int32_t * d_table = device_alloc<int32_t>(n_pages);
  int32_t * d_starts = device_alloc<int32_t>(2);
  int32_t * d_pos = device_alloc<int32_t>(1);
  M1_CUDA_CHECK(cudaMemcpy(d_table, table.data(), n_pages * 4, cudaMemcpyHostToDevice));
  M1_CUDA_CHECK(cudaMemcpy(d_starts, starts.data(), 8, cudaMemcpyHostToDevice));
  M1_CUDA_CHECK(cudaMemcpy(d_pos, pos.data(), 4, cudaMemcpyHostToDevice));
  gpu::PagedPrefillArgs a;
  a.n_seqs = 1;
  a.n_heads = kHeads;
  a.q = q;
  a.q_row_stride = kHeads * kD;
  a.seq_starts = d_starts;
  a.chunk_pos = d_pos;
  a.max_chunk_len = n;
  a.cache = {k, v, kPage, kKv, d_table, n_pages};
  a.out = out;
  a.out_row_stride = kHeads * kD;
  a.kernel = kernel;
  double ms = median_ms([&](int) { check(gpu::paged_prefill(a, nullptr)); }, reps);
  const double flops = 4.0 * kHeads * kD * double(n) * (n + 1) / 2;
  const char * name =
      kernel == gpu::PagedPrefillKernel::kMmaSync ? "paged prefill mma.sync" : "paged prefill wgmma";
  print_row(name, std::to_string(n / 1024) + "K, 64/8 heads", ms, fmt("%.0f TFLOP/s", flops / ms / 1e9),
            fmt("%.0f%% of GEMM peak", 100 * flops / ms / 1e9 / peaks.gemm_tflops));
  for (void * p : {(void *)k, (void *)v, (void *)q, (void *)out, (void *)d_table, (void *)d_starts, (void *)d_pos})
    M1_CUDA_CHECK(cudaFree(p));
}

// Both softmax prefill kernels (the default wgmma one and the mma.sync one) at 4K and 32K tokens.
void bench_softmax_prefill(const Peaks & peaks, bool quick, int reps) {
  for (auto kernel : {gpu::PagedPrefillKernel::kWgmma, gpu::PagedPrefillKernel::kMmaSync}) {
    bench_paged_prefill(peaks, 4096, reps, kernel);
    bench_paged_prefill(peaks, 32768, quick ? 3 : 10, kernel);
  }
}

// Paged softmax decode: a decode step's single sequence at 4K (the layer bench's) and 32K context,
// then batches of 4K-token sequences.
void bench_paged_decodes(const Peaks & peaks, int reps) {
  bench_paged_decode(peaks, 1, 4096, reps);
  bench_paged_decode(peaks, 1, 32768, reps);
  bench_paged_decode(peaks, 16, 4096, reps);
  bench_paged_decode(peaks, 64, 4096, reps);
}

void bench_attention_and_elementwise(const Peaks & peaks, bool quick, int reps) {
  bench_lightning_split(peaks, quick, reps);  // both kernels at slice 64, the 8-head rows (one GPU's share under 8-way TP)
  for (int len : {4096, 32768}) bench_lightning_prefill(peaks, 1, len, 32, reps);
  bench_lightning_prefill(peaks, 8, 4096, 32, reps);
  for (int batch : {1, 16, 64}) bench_lightning_decode(peaks, batch, quick ? 20 : 200);
  bench_softmax_prefill(peaks, quick, reps);
  bench_paged_decodes(peaks, reps);
  bench_norms_and_activations(peaks, 16384, reps);
  bench_moe_routing(peaks, 16384, reps);
}

// gemm_nt at decode row counts: the weight-streaming kernel against cuBLAS on the projection
// shapes of the 1B bench model (D 2048) and of M1 (D 6144). Bytes = the weight read once (the few
// rows of A and C are noise); weights rotate through >= 256 MiB of copies so that L2 does not serve them.
void bench_gemv(const Peaks & peaks, int reps) {
  struct Shape { const char * name; int n, k; };
  for (Shape sh : {Shape{"1B qkv+gate", 8192, 2048}, Shape{"1B softmax qkv", 2560, 2048}, Shape{"1B out proj", 2048, 2048},
                   Shape{"M1 qkv+gate", 32768, 6144}, Shape{"M1 softmax qkv", 10240, 6144}, Shape{"M1 out proj", 6144, 8192}}) {
    const size_t w_elems = size_t(sh.n) * sh.k, bytes = w_elems * 2;
    const int copies = int(std::max<size_t>(1, (size_t(256) << 20) / bytes + 1));
    Bf16 * w = random_bf16(w_elems * copies, 41, -0.05f, 0.05f);
    Bf16 * a = random_bf16(size_t(8) * sh.k, 42);
    Bf16 * c = device_alloc<Bf16>(size_t(8) * sh.n);
    for (int m : {1, 8}) {
      double ms[2];
      for (int kernel = 0; kernel < 2; ++kernel) {
        ms[kernel] = median_ms([&](int rep) {
          gpu::GemmArgs g;
          g.m = m, g.n = sh.n, g.k = sh.k, g.a = a, g.lda = sh.k, g.b = w + size_t(rep % copies) * w_elems, g.ldb = sh.k;
          g.c = c, g.ldc = sh.n, g.kernel = kernel ? gpu::GemmKernel::cublas : gpu::GemmKernel::streaming;
          check(gpu::gemm_nt(g, nullptr));
        }, reps);
      }
      const std::string shape = std::to_string(m) + "x" + std::to_string(sh.n) + "x" + std::to_string(sh.k);
      for (int kernel = 0; kernel < 2; ++kernel)
        report_bytes(peaks, std::string(sh.name) + (kernel ? " cuBLAS" : " stream"), shape, ms[kernel], double(bytes));
    }
    M1_CUDA_CHECK(cudaFree(w));
    M1_CUDA_CHECK(cudaFree(a));
    M1_CUDA_CHECK(cudaFree(c));
  }
}

}  // namespace

int main(int argc, char ** argv) {
  bool quick = false, moe_only = false, gemv_only = false, lightning_only = false, softmax_only = false;
  bool decode_attention_only = false;
  std::vector<int> prefill_tokens = {4096, 32768};
  for (int i = 1; i < argc; ++i) {
    lightning_only |= std::strcmp(argv[i], "--lightning") == 0;  // the ceilings and lightning prefill only
    quick |= std::strcmp(argv[i], "--quick") == 0;
    moe_only |= std::strcmp(argv[i], "--moe") == 0;  // the ceilings and the MoE rows only
    gemv_only |= std::strcmp(argv[i], "--gemv") == 0;  // the ceilings and the decode GEMV rows only
    softmax_only |= std::strcmp(argv[i], "--softmax") == 0;  // the ceilings and the softmax prefill rows only
    decode_attention_only |= std::strcmp(argv[i], "--paged-decode") == 0;  // the ceilings and the paged decode rows only
    // --moe-tokens N: the MoE prefill rows at N tokens only, no decode rows (for a profiler run)
    if (std::strcmp(argv[i], "--moe-tokens") == 0 && i + 1 < argc) {
      moe_only = true;
      prefill_tokens = {std::atoi(argv[++i])};
    }
  }
  cudaDeviceProp prop;
  M1_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, %.0f MB L2\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1e6);
  std::printf("%-26s %-22s %10s  %-26s %s\n", "kernel", "shape", "ms", "rate", "vs floor / peak");
  const Peaks peaks = measure_peaks(quick);
  const int reps = quick ? 5 : 30;
  if (lightning_only) {
    bench_lightning_split(peaks, quick, reps);
    return 0;
  }
  if (gemv_only) {
    bench_gemv(peaks, 100);
    return 0;
  }
  if (softmax_only) {
    bench_softmax_prefill(peaks, quick, reps);
    return 0;
  }
  if (decode_attention_only) {
    bench_paged_decodes(peaks, 100);
    return 0;
  }
  if (!moe_only) bench_attention_and_elementwise(peaks, quick, reps);
  {
    const ExpertWeights experts;
    for (int n : prefill_tokens) bench_moe_prefill(peaks, experts, n, n > 4096 ? (quick ? 3 : 7) : reps);
    if (prefill_tokens.size() > 1)
      for (int n : {1, 16, 64}) bench_moe_decode(peaks, experts, n, quick ? 10 : 50);
  }
  return 0;
}
