// Benchmark (not a test): end-to-end GPU forward of a random M1-shaped model of about 1B
// parameters (D 2048, 8 layers = 7 lightning + 1 softmax, 16 experts of 1024, top 2, vocab
// 32768), batch 1: prefill tokens/s and decode tokens/s, next to the decode floor (bytes each
// token must read: active bf16 weights, the fp32 LM head and the lightning states read and
// written, over the GPU's nominal bandwidth, given with --gbps); decode without and with CUDA graphs.
//   m1_gpu_model_bench [--dir DIR] [--prefill N] [--decode N] [--gbps 3350]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/gpu_model.h"
#include "model/random_checkpoint.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

m1::M1Dimensions dimensions_1b() { return m1::M1Dimensions{32768, 2048, 8, 16, 2, 128, 64, 16, 2, 1024, 256}; }

// Bytes one decode step must move at least: every active weight once, the states read and written.
double decode_bytes(const m1::ModelConfig & c) {
  const double D = c.hidden_size, Hd = double(c.n_heads) * c.head_dim, kv = double(c.n_kv_heads) * c.head_dim;
  double bytes = double(c.vocab_size) * D * 4 + D * 2;  // fp32 LM head, final norm (the embedding row is negligible)
  for (m1::LayerKind kind : c.layer_kinds) {
    if (kind == m1::LayerKind::lightning) bytes += (5 * Hd * D) * 2 + 2.0 * c.lightning_state_bytes() / c.n_layers_of(kind);
    else bytes += (2 * Hd * D + 2 * kv * D) * 2;
    bytes += c.n_experts * D * 4 + c.n_experts_per_token * 3.0 * D * c.expert_ffn * 2;  // router fp32 + experts
  }
  return bytes;
}

}  // namespace

int main(int argc, char ** argv) {
  std::string dir = (std::filesystem::temp_directory_path() / "m1_gpu_bench_1b").string();
  int prefill = 512, decode = 64;
  double gbps = 3350;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--prefill") prefill = std::atoi(argv[i + 1]);
    else if (flag == "--decode") decode = std::atoi(argv[i + 1]);
    else if (flag == "--gbps") gbps = std::atof(argv[i + 1]);
  }
  const m1::ModelConfig config = m1::m1_shaped_config(dimensions_1b());
  if (!std::filesystem::exists(std::filesystem::path(dir) / "config.json")) {
    const auto start = Clock::now();
    const m1::Status written = m1::write_random_checkpoint(dir, config, {});
    if (!written.ok()) {
      std::fprintf(stderr, "m1_gpu_model_bench: %s\n", written.message().c_str());
      return 1;
    }
    std::printf("wrote random checkpoint %s in %.1f s\n", dir.c_str(), seconds_since(start));
  }
  const m1::ParameterCounts params = m1::count_parameters(config);
  m1::GpuModelOptions options;
  options.max_sequences = 1;
  options.max_cached_tokens = prefill + decode;
  auto start = Clock::now();
  auto model = m1::GpuModel::open(dir, options);
  if (!model) {
    std::fprintf(stderr, "m1_gpu_model_bench: %s\n", model.status().message().c_str());
    return 1;
  }
  std::printf("model: %.3fB parameters (%.3fB active), %.2f GiB on the GPU, loaded in %.1f s\n", params.total / 1e9,
              params.active / 1e9, (*model)->weight_bytes() / 1073741824.0, seconds_since(start));
  std::mt19937 rng(7);
  std::vector<int32_t> tokens(size_t(prefill + decode));
  for (int32_t & t : tokens) t = int32_t(rng() % uint32_t(config.vocab_size));
  const double bytes = decode_bytes(config), floor_ms = bytes / (gbps * 1e9) * 1e3;
  for (bool graphs : {false, true}) {  // decode steps launched one by one, then replayed from CUDA graphs
    (*model)->set_cuda_graphs(graphs);
    double prefill_s = 1e9, decode_s = 1e9;
    for (int run = 0; run < 3; ++run) {  // the first run warms up (cuBLAS heuristics, allocations, capture)
      auto memory = (*model)->new_memory();
      if (!memory) return std::fprintf(stderr, "%s\n", memory.status().message().c_str()), 1;
      m1::GpuSequenceInput in{&*memory, std::span<const int32_t>(tokens).first(size_t(prefill)), m1::LogitRows::last};
      start = Clock::now();
      auto out = (*model)->forward(std::span<const m1::GpuSequenceInput>(&in, 1));
      if (!out) return std::fprintf(stderr, "%s\n", out.status().message().c_str()), 1;
      if (run > 0) prefill_s = std::min(prefill_s, seconds_since(start));
      start = Clock::now();
      for (int t = 0; t < decode; ++t) {
        m1::GpuSequenceInput step{&*memory, std::span<const int32_t>(tokens).subspan(size_t(prefill + t), 1),
                                  m1::LogitRows::last};
        auto logits = (*model)->forward(std::span<const m1::GpuSequenceInput>(&step, 1));
        if (!logits) return std::fprintf(stderr, "%s\n", logits.status().message().c_str()), 1;
      }
      if (run > 0) decode_s = std::min(decode_s, seconds_since(start));
    }
    if (!graphs)
      std::printf("prefill %d tokens, batch 1: %.1f ms, %.0f tokens/s\n", prefill, prefill_s * 1e3, prefill / prefill_s);
    std::printf("decode %d steps, batch 1, CUDA graphs %s: %.3f ms/token, %.0f tokens/s; floor %.1f MB/token at %.0f "
                "GB/s = %.3f ms/token (%.0f%% of floor)\n",
                decode, graphs ? "on" : "off", decode_s / decode * 1e3, decode / decode_s, bytes / 1e6, gbps, floor_ms,
                100.0 * floor_ms / (decode_s / decode * 1e3));
  }
  return 0;
}
