// The CPU sampler at M1's vocabulary size (200,064 ids): time per sampled token with the agents'
// default settings (temperature 1, top_p 0.95) and with plain temperature sampling (full sort),
// on random logits. Usage: m1_sampling_bench [--spread S] (logits are S x standard normal).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/sampling.h"

namespace {

double ms_per_token(const std::vector<float> & logits, const m1::SamplingParams & params) {
  constexpr int kDraws = 20;
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kDraws; ++i) m1::sample_token_with_uniform(logits, {}, params, 0, (i + 0.5) / kDraws);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, ms / kDraws);
  }
  return best;
}

}  // namespace

int main(int argc, char ** argv) {
  float spread = 3.0f;
  if (argc == 3 && std::strcmp(argv[1], "--spread") == 0) spread = std::strtof(argv[2], nullptr);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> logits(200064);
  for (float & x : logits) x = spread * normal(rng);
  m1::SamplingParams params;
  params.temperature = 1.0f;
  params.top_p = 0.95f;
  std::printf("vocab %zu, logits %.1f x N(0,1): top_p 0.95: %.2f ms/token", logits.size(), spread,
              ms_per_token(logits, params));
  params.top_p = 1.0f;
  std::printf("; temperature only: %.2f ms/token\n", ms_per_token(logits, params));
}
