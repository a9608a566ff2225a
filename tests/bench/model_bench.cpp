// Benchmark (not a test): CPU prefill and decode tokens/s of random M1-shaped models (~20M and
// ~100M parameters), next to their floors: decode against memory bandwidth (bytes each token must
// read / measured read bandwidth), prefill against compute (FLOPs per token / measured sgemm rate).
//   m1_model_bench [--sizes 20m,100m] [--threads N] [--prefill N] [--decode N] [--runs N] [--dir DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "model/model.h"
#include "model/random_checkpoint.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Read bandwidth: summing a 1 GiB array (far larger than the caches), median of 5.
double measure_read_gbps() {
  std::vector<float> data(size_t(256) << 20, 1.0f);
  std::vector<double> rates;
  volatile float sink = 0;
  for (int r = 0; r < 6; ++r) {
    const auto start = Clock::now();
    float sums[8] = {};
    for (size_t i = 0; i < data.size(); i += 8)
      for (int j = 0; j < 8; ++j) sums[j] += data[i + j];
    sink = sink + sums[0] + sums[7];
    if (r > 0) rates.push_back(double(data.size()) * 4 / seconds_since(start) / 1e9);
  }
  return median(rates);
}

// Peak sgemm rate through OpenBLAS on 1024^3 products (what prefill's GEMMs can reach).
double measure_sgemm_gflops() {
  const int n = 1024;
  std::vector<float> a(size_t(n) * n, 0.5f), b(a), c(a.size());
  std::vector<double> rates;
  for (int r = 0; r < 6; ++r) {
    const auto start = Clock::now();
    m1::kernels::cpu::matmul_nt(a.data(), b.data(), c.data(), n, n, n);
    if (r > 0) rates.push_back(2.0 * n * n * n / seconds_since(start) / 1e9);
  }
  return median(rates);
}

std::vector<int32_t> random_tokens(int n, int vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> t(n);
  for (int32_t & x : t) x = pick(rng);
  return t;
}

// Bytes one decode step must read at batch 1: every weight a token uses (attention, norms, router,
// its top-k experts, one embedding row, the whole fp32 LM head), plus the lightning states (read
// and written) and the KV of `context` tokens.
double decode_bytes(const m1::ModelConfig & c, int context) {
  const m1::ParameterCounts p = m1::count_parameters(c);
  const double weights = double(p.active) + double(c.vocab_size) * c.hidden_size + c.hidden_size;
  return weights * 4 + 2.0 * c.lightning_state_bytes() + double(context) * c.kv_bytes_per_token(4);
}

struct Options {
  std::vector<std::string> sizes = {"20m", "100m"};
  int threads = 0, prefill = 512, decode = 64, runs = 5;
  std::string dir = (std::filesystem::temp_directory_path() / "m1_model_bench").string();
};

int run_size(const std::string & size, const Options & o, double gbps, double gflops) {
  const m1::M1Dimensions dims = size == "100m" ? m1::m1_dimensions_100m() : m1::m1_dimensions_20m();
  const m1::ModelConfig config = m1::m1_shaped_config(dims);
  const std::string folder = o.dir + "/" + size;
  m1::Status written = m1::write_random_checkpoint(folder, config, {});
  if (!written.ok()) return std::fprintf(stderr, "m1_model_bench: %s\n", written.message().c_str()), 1;
  auto model = m1::Model::open(folder, {o.threads, 0});
  if (!model) return std::fprintf(stderr, "m1_model_bench: %s\n", model.status().message().c_str()), 1;
  const m1::ParameterCounts params = m1::count_parameters(config);

  // Prefill: o.prefill fresh random tokens into an empty memory, last-position logits.
  std::vector<double> prefill_times;
  for (int r = 0; r <= o.runs; ++r) {
    m1::SequenceMemory memory = (*model)->new_memory();
    const std::vector<int32_t> tokens = random_tokens(o.prefill, config.vocab_size, 100 + r);
    m1::SequenceInput in{&memory, tokens, m1::LogitRows::last};
    const auto start = Clock::now();
    if (!(*model)->forward(std::span<const m1::SequenceInput>(&in, 1)).ok()) return 1;
    if (r > 0) prefill_times.push_back(seconds_since(start));  // run 0 warms up
  }
  const double prefill_tps = o.prefill / median(prefill_times);
  // Decode: one token at a time after a prefill of o.prefill tokens, last-position logits.
  m1::SequenceMemory memory = (*model)->new_memory();
  const std::vector<int32_t> context = random_tokens(o.prefill, config.vocab_size, 7);
  m1::SequenceInput in{&memory, context, m1::LogitRows::none};
  if (!(*model)->forward(std::span<const m1::SequenceInput>(&in, 1)).ok()) return 1;
  const std::vector<int32_t> steps = random_tokens(o.decode + 4, config.vocab_size, 8);
  std::vector<double> step_times;
  for (int t = 0; t < int(steps.size()); ++t) {
    m1::SequenceInput step{&memory, std::span<const int32_t>(steps).subspan(t, 1), m1::LogitRows::last};
    const auto start = Clock::now();
    if (!(*model)->forward(std::span<const m1::SequenceInput>(&step, 1)).ok()) return 1;
    if (t >= 4) step_times.push_back(seconds_since(start));
  }
  const double decode_tps = 1.0 / median(step_times);
  const double bytes = decode_bytes(config, o.prefill + o.decode / 2);
  const double decode_floor = gbps * 1e9 / bytes;
  // Prefill FLOPs per token: 2 per active weight and LM head... only the last position's LM head.
  const double flops = 2.0 * double(params.active);
  const double prefill_floor = gflops * 1e9 / flops;
  std::printf("%-5s %7.1fM %7.1fM %9.0f %9.0f %5.0f%% %9.1f %9.1f %5.0f%%\n", size.c_str(), params.total / 1e6,
              params.active / 1e6, prefill_tps, prefill_floor, 100 * prefill_tps / prefill_floor, decode_tps,
              decode_floor, 100 * decode_tps / decode_floor);
  return 0;
}

}  // namespace

int main(int argc, char ** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--threads") o.threads = std::stoi(value);
    else if (key == "--prefill") o.prefill = std::stoi(value);
    else if (key == "--decode") o.decode = std::stoi(value);
    else if (key == "--runs") o.runs = std::stoi(value);
    else if (key == "--dir") o.dir = value;
    else if (key == "--sizes") {
      o.sizes.clear();
      for (size_t start = 0; start <= value.size();) {
        const size_t comma = std::min(value.find(',', start), value.size());
        o.sizes.push_back(value.substr(start, comma - start));
        start = comma + 1;
      }
    } else {
      std::fprintf(stderr, "m1_model_bench: unknown option %s\n", key.c_str());
      return 2;
    }
  }
  const double gbps = measure_read_gbps();
  m1::kernels::cpu::set_blas_threads(o.threads > 0 ? o.threads : int(std::thread::hardware_concurrency()));
  const double gflops = measure_sgemm_gflops();
  std::printf("floors: read bandwidth %.1f GB/s, sgemm %.1f GFLOP/s (1024^3); prefill %d tokens, decode %d steps "
              "after it, median of %d runs\n", gbps, gflops, o.prefill, o.decode, o.runs);
  std::printf("%-5s %8s %8s %9s %9s %6s %9s %9s %6s\n", "model", "params", "active", "prefill", "floor", "frac",
              "decode", "floor", "frac");
  for (const std::string & size : o.sizes)
    if (run_size(size, o, gbps, gflops) != 0) return 1;
  std::filesystem::remove_all(o.dir);
  return 0;
}
