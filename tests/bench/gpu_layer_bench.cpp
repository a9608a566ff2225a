// Benchmark (not a test): one M1 decoder layer at real dimensions (D 6144, 64 heads x 128, 8 KV
// heads, 32 experts of 9216, top 2), as a GpuModel with random device weights and a 256-token
// vocabulary: lightning layers, then softmax layers over a paged KV cache, each with its MoE. Every
// sequence first prefills --context tokens; then decode steps at batch 1, 16 and 64, each with and
// without CUDA graphs (median step time, host clock, logits downloaded), in achieved GB/s over the
// bytes a step must read (the layer's weights it touches, the lightning states read and written or
// the K/V read, the fp32 LM head), next to the device-to-device copy bandwidth measured in the same
// run. Two rows per layer kind and batch:
//   - "1 layer": a one-layer model's whole step, so the step's fixed cost (host plan and launch,
//     embedding, final norm, LM head, logits download and sync) is charged to the layer;
//   - "per layer": a two-layer model's step minus the one-layer model's, i.e. what each further
//     layer adds, over one layer's bytes: what a layer costs inside a full model's step, where that
//     fixed cost is paid once for all of M1's 80 layers.
//   m1_gpu_layer_bench [--context 4096] [--steps 100] [--kind lightning|softmax] [--one-layer]
// (--kind: that layer kind only; --one-layer: no two-layer model, no "per layer" rows: for profilers)
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/device_memory.h"
#include "kernels/tensor_ops_gpu.h"
#include "model/gpu_model.h"
#include "model/random_checkpoint.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace gpu = m1::kernels::gpu;

double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

void die(const std::string & what) {
  std::fprintf(stderr, "m1_gpu_layer_bench: %s\n", what.c_str());
  std::exit(1);
}

// Device-to-device copy of 2 GiB, bytes read + written, best of 10 (host clock after a sync).
double copy_gbs() {
  const size_t bytes = size_t(1) << 31, rows = 1;  // one row: cudaMemcpy2D's 1-D path
  auto a = m1::kernels::DeviceBuffer::allocate(0, bytes), b = m1::kernels::DeviceBuffer::allocate(0, bytes);
  if (!a || !b) die("cannot allocate the copy buffers");
  if (!gpu::fill_uniform(a->data(), int64_t(bytes / 4), true, 5, -1, 1, nullptr).ok()) die("fill failed");
  double best = 1e9;
  for (int i = 0; i < 12; ++i) {
    if (!gpu::synchronize(nullptr).ok()) die("sync failed");
    const auto start = Clock::now();
    if (!gpu::copy_2d(b->data(), bytes / rows, a->data(), bytes / rows, bytes / rows, rows, nullptr).ok() ||
        !gpu::synchronize(nullptr).ok())
      die("copy failed");
    if (i >= 2) best = std::min(best, ms_since(start));
  }
  return 2.0 * bytes / best / 1e6;
}

m1::ModelConfig layers_config(m1::LayerKind kind, int n_layers) {
  m1::ModelConfig c = m1::m1_shaped_config(m1::M1Dimensions{256, 6144, n_layers, 64, 8, 128, 64, 32, 2, 9216, 256});
  c.layer_kinds.assign(size_t(n_layers), kind);
  return c;
}

// Bytes one layer's decode step of `batch` sequences at `context` tokens must read (and write, for
// the lightning states), with the step's fixed bytes (LM head, final norm, embedding rows) when
// `with_fixed`. Experts: those the batch touches; exact at batch 1 (2 experts), expected under
// uniform routing above that (E (1 - (1 - k/E)^batch)).
double step_bytes(const m1::ModelConfig & c, int batch, int context, bool with_fixed) {
  const double D = c.hidden_size, Hd = double(c.n_heads) * c.head_dim, kv = double(c.n_kv_heads) * c.head_dim;
  const double E = c.n_experts, K = c.n_experts_per_token, F = c.expert_ffn;
  double bytes = 2 * D * 2;  // the layer's two norm weights
  if (with_fixed) bytes += c.vocab_size * D * 4 + D * 2 + batch * D * 2;  // LM head, final norm, embedding rows
  if (c.layer_kinds[0] == m1::LayerKind::lightning)
    bytes += (3 * Hd * D + Hd * D + Hd + D * Hd) * 2 + batch * 2.0 * c.n_heads * 128.0 * 128.0 * 4;
  else
    bytes += (Hd * D + 2 * kv * D + D * Hd) * 2 + batch * double(context) * kv * 2 * 2;
  const double experts = batch == 1 ? K : E * (1 - std::pow(1 - K / E, batch));
  return bytes + E * D * 4 + experts * 3 * D * F * 2;
}

constexpr int kBatches[] = {1, 16, 64};
constexpr int kMaxBatch = 64, kWarmup = 3;

// Median decode-step times (ms) of a model of n_layers layers of `kind`, per batch size of kBatches:
// [batch][0] without CUDA graphs, [batch][1] with.
std::vector<std::array<double, 2>> step_times(m1::LayerKind kind, int n_layers, int context, int steps) {
  const m1::ModelConfig config = layers_config(kind, n_layers);
  m1::GpuModelOptions options;
  options.max_sequences = kMaxBatch;
  options.max_cached_tokens = int64_t(kMaxBatch) * (context + 2 * (kWarmup + steps) + 64);
  auto model = m1::GpuModel::open_random(config, options, 7);
  if (!model) die(model.status().message());
  std::mt19937 rng(11);
  std::vector<m1::GpuMemory> memories;
  std::vector<std::vector<int32_t>> prompts(kMaxBatch);
  for (int s = 0; s < kMaxBatch; ++s) {
    auto m = (*model)->new_memory();
    if (!m) die(m.status().message());
    memories.push_back(std::move(m).value());
    for (int t = 0; t < context; ++t) prompts[size_t(s)].push_back(int32_t(rng() % uint32_t(config.vocab_size)));
  }
  const auto prefill_start = Clock::now();
  for (int s0 = 0; s0 < kMaxBatch; s0 += 8) {  // 8 sequences (32K tokens) per forward
    std::vector<m1::GpuSequenceInput> batch;
    for (int s = s0; s < s0 + 8; ++s) batch.push_back({&memories[size_t(s)], prompts[size_t(s)], m1::LogitRows::last});
    auto out = (*model)->forward(batch);
    if (!out) die(out.status().message());
  }
  std::printf("# %d %s layer(s): prefilled %d x %d tokens in %.0f ms\n", n_layers,
              kind == m1::LayerKind::lightning ? "lightning" : "softmax", kMaxBatch, context, ms_since(prefill_start));
  std::vector<std::array<double, 2>> result;
  for (int batch_size : kBatches) {
    std::array<double, 2> ms = {0, 0};
    for (int graphs = 0; graphs < 2; ++graphs) {
      (*model)->set_cuda_graphs(graphs == 1);
      std::vector<double> times;
      for (int i = 0; i < kWarmup + steps; ++i) {
        std::vector<int32_t> tokens(static_cast<size_t>(batch_size), 0);
        std::vector<m1::GpuSequenceInput> batch;
        for (int s = 0; s < batch_size; ++s) {
          tokens[size_t(s)] = int32_t(rng() % uint32_t(config.vocab_size));
          batch.push_back({&memories[size_t(s)], std::span<const int32_t>(&tokens[size_t(s)], 1), m1::LogitRows::last});
        }
        const auto start = Clock::now();
        auto out = (*model)->forward(batch);
        if (!out) die(out.status().message());
        if (i >= kWarmup) times.push_back(ms_since(start));
      }
      std::sort(times.begin(), times.end());
      ms[size_t(graphs)] = times[times.size() / 2];
    }
    result.push_back(ms);
  }
  return result;
}

void print_row(const char * layer, const char * what, int batch, int context, double bytes, const std::array<double, 2> & ms,
               double copy) {
  std::printf("%-10s %-10s %6d %7d %10.1f %10.3f %9.0f %8.0f%% %10.3f %8.0f%%\n", layer, what, batch, context, bytes / 1e6,
              ms[0], bytes / ms[0] / 1e6, 100 * bytes / ms[0] / 1e6 / copy, ms[1], 100 * bytes / ms[1] / 1e6 / copy);
}

}  // namespace

int main(int argc, char ** argv) {
  int context = 4096, steps = 100;
  bool one_layer_only = false;
  std::string only_kind;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--one-layer") == 0) one_layer_only = true;
    else if (i + 1 >= argc) die(std::string("unknown or incomplete option ") + argv[i]);
    else if (std::strcmp(argv[i], "--context") == 0) context = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--steps") == 0) steps = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--kind") == 0) only_kind = argv[++i];
    else die(std::string("unknown option ") + argv[i]);
  }
  const double copy = copy_gbs();
  std::printf("copy (peak): %.0f GB/s (2 GiB device to device, read + written)\n", copy);
  std::printf("%-10s %-10s %6s %7s %10s %10s %9s %9s %10s %9s\n", "layer", "rows", "batch", "context", "MB/step", "ms direct",
              "GB/s", "% copy", "ms graphs", "% copy");
  for (m1::LayerKind kind : {m1::LayerKind::lightning, m1::LayerKind::softmax}) {
    const char * name = kind == m1::LayerKind::lightning ? "lightning" : "softmax";
    if (!only_kind.empty() && only_kind != name) continue;
    const m1::ModelConfig config = layers_config(kind, 1);
    const auto one = step_times(kind, 1, context, steps);
    const auto two = one_layer_only ? one : step_times(kind, 2, context, steps);
    for (size_t b = 0; b < std::size(kBatches); ++b) {
      print_row(name, "1 layer", kBatches[b], context, step_bytes(config, kBatches[b], context, true), one[b], copy);
      if (!one_layer_only)
        print_row(name, "per layer", kBatches[b], context, step_bytes(config, kBatches[b], context, false),
                  {two[b][0] - one[b][0], two[b][1] - one[b][1]}, copy);
    }
  }
  return 0;
}
