// `m1 bench model --model DIR [--device cpu|cuda|cuda:N] [--prefill N] [--decode N] [--runs R]
// [--threads N] [--no-graphs] [--json]`: the forward of one sequence on the CPU (fp32) or on a GPU
// (bf16): a prefill of N random tokens, then `--decode` one-token steps, each taking the last
// position's logits as the engine does. Best of R timed runs after one warm-up (cuBLAS heuristics,
// allocations, CUDA graph capture). One line, or one JSON object with --json:
// {"device", "prefill_tokens", "prefill_ms", "prefill_tokens_per_s", "decode_steps",
//  "decode_ms_per_token", "decode_tokens_per_s"}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agents/cli/command.h"
#include "model/gpu_model.h"
#include "model/model.h"
#include "runtime/device_selection.h"

namespace m1::cli {

namespace {

struct ModelBenchArgs {
  std::string model, device = "cpu";
  int prefill = 512, decode = 64, runs = 3, threads = 0;
  bool no_graphs = false, json = false;
};

// How to run the model under test: a fresh memory, and one forward of some ids on it.
struct Runner {
  std::function<Status()> new_memory;
  std::function<Status(std::span<const int32_t>)> forward;  // logits of the last position
};

struct Timing {
  double prefill_s = 1e30, decode_s = 1e30;
};

using Clock = std::chrono::steady_clock;

// The prompt and the decode steps' ids: random, fixed seed, all within the model's vocabulary.
std::vector<int32_t> random_tokens(const ModelBenchArgs & args, int vocab) {
  std::mt19937 rng(7);
  std::vector<int32_t> tokens(size_t(args.prefill + args.decode));
  for (int32_t & t : tokens) t = int32_t(rng() % uint32_t(vocab));
  return tokens;
}

Expected<Timing> time_runs(Runner & runner, const ModelBenchArgs & args, int vocab) {
  const std::vector<int32_t> tokens = random_tokens(args, vocab);
  Timing best;
  for (int run = 0; run <= args.runs; ++run) {  // run 0 warms up
    M1_RETURN_IF_ERROR(runner.new_memory());
    auto start = Clock::now();
    M1_RETURN_IF_ERROR(runner.forward(std::span<const int32_t>(tokens).first(size_t(args.prefill))));
    const double prefill_s = std::chrono::duration<double>(Clock::now() - start).count();
    start = Clock::now();
    for (int t = 0; t < args.decode; ++t)
      M1_RETURN_IF_ERROR(runner.forward(std::span<const int32_t>(tokens).subspan(size_t(args.prefill + t), 1)));
    const double decode_s = std::chrono::duration<double>(Clock::now() - start).count();
    if (run > 0) best = {std::min(best.prefill_s, prefill_s), std::min(best.decode_s, decode_s)};
  }
  return best;
}

Status checked(const Expected<std::vector<SequenceLogits>> & out) { return out ? Status() : out.status(); }

Expected<Timing> bench_cpu(const ModelBenchArgs & args) {
  auto model = Model::open(args.model, ModelOptions{args.threads, 0});
  if (!model) return model.status();
  SequenceMemory memory;
  Runner runner{[&] {
                  memory = (*model)->new_memory();
                  return Status();
                },
                [&](std::span<const int32_t> ids) {
                  SequenceInput input{&memory, ids, LogitRows::last};
                  return checked((*model)->forward(std::span<const SequenceInput>(&input, 1)));
                }};
  return time_runs(runner, args, (*model)->config().vocab_size);
}

Expected<Timing> bench_gpu(const ModelBenchArgs & args, int device) {
  GpuModelOptions options;
  options.device = device;
  options.max_sequences = 1;
  options.max_cached_tokens = int64_t(args.prefill) + args.decode;
  options.cuda_graphs = !args.no_graphs;
  auto model = GpuModel::open(args.model, options);
  if (!model) return model.status();
  GpuMemory memory;
  Runner runner{[&]() -> Status {
                  memory = GpuMemory();  // gives the slot back before taking it again
                  auto fresh = (*model)->new_memory();
                  if (!fresh) return fresh.status();
                  memory = std::move(*fresh);
                  return Status();
                },
                [&](std::span<const int32_t> ids) {
                  GpuSequenceInput input{&memory, ids, LogitRows::last};
                  return checked((*model)->forward(std::span<const GpuSequenceInput>(&input, 1)));
                }};
  return time_runs(runner, args, (*model)->config().vocab_size);
}

int run_model_bench(const ModelBenchArgs & args) {
  const char * what = "bench model";
  if (args.prefill < 1 || args.decode < 0 || args.runs < 1) return fail(what, "--prefill and --runs must be >= 1, --decode >= 0");
  Expected<std::vector<int>> devices = parse_device_list(args.device);
  if (!devices) return fail(what, devices.status());
  if (devices->size() > 1) return fail(what, "one device at a time (cpu, cuda or cuda:N)");
  Expected<Timing> t = devices->empty() ? bench_cpu(args) : bench_gpu(args, devices->front());
  if (!t) return fail(what, t.status());
  const std::string device = devices->empty() ? "cpu" : "cuda:" + std::to_string(devices->front());
  const double decode_ms = args.decode > 0 ? t->decode_s / args.decode * 1e3 : 0.0;
  const double decode_rate = args.decode > 0 ? args.decode / t->decode_s : 0.0;
  if (args.json) {
    std::printf("{\"device\": \"%s\", \"prefill_tokens\": %d, \"prefill_ms\": %.3f, \"prefill_tokens_per_s\": %.1f, "
                "\"decode_steps\": %d, \"decode_ms_per_token\": %.4f, \"decode_tokens_per_s\": %.1f}\n",
                device.c_str(), args.prefill, t->prefill_s * 1e3, args.prefill / t->prefill_s, args.decode, decode_ms,
                decode_rate);
  } else {
    std::printf("%s: prefill %d tokens %.1f ms (%.0f tokens/s); decode %d steps %.3f ms/token (%.0f tokens/s); "
                "best of %d runs\n",
                device.c_str(), args.prefill, t->prefill_s * 1e3, args.prefill / t->prefill_s, args.decode, decode_ms,
                decode_rate, args.runs);
  }
  return 0;
}

}  // namespace

void add_bench_model(CLI::App & bench, CommandList & commands) {
  auto args = std::make_shared<ModelBenchArgs>();
  CLI::App * sub = bench.add_subcommand("model", "one sequence's prefill and decode speed on the CPU or a GPU");
  sub->add_option("--model", args->model, "model folder (config.json + safetensors)")->required();
  sub->add_option("--device", args->device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--prefill", args->prefill, "prompt tokens (random ids)")->capture_default_str();
  sub->add_option("--decode", args->decode, "one-token steps after the prompt")->capture_default_str();
  sub->add_option("--runs", args->runs, "timed runs after one warm-up (the best is reported)")->capture_default_str();
  sub->add_option("--threads", args->threads, "CPU threads (0: all)")->capture_default_str();
  sub->add_flag("--no-graphs", args->no_graphs, "GPU: launch decode steps one kernel at a time (no CUDA graphs)");
  sub->add_flag("--json", args->json, "one JSON object");
  commands.push_back({sub, [args] { return run_model_bench(*args); }});
}

}  // namespace m1::cli
