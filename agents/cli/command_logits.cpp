// `m1 logits --model DIR --tokens FILE --out FILE [--chunk N] [--threads N] [--device cpu|cuda|cuda:N]`:
// float32 little-endian logits [n_tokens x vocab] for the whitespace-separated token ids in FILE.
// --chunk N feeds N tokens at a time through the sequence memory (0: all at once), so chunked
// prefill can be compared with one-shot prefill from the command line.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "agents/cli/command.h"
#include "model/gpu_model.h"
#include "model/model.h"
#include "runtime/device_selection.h"

namespace m1::cli {

namespace {

struct LogitsArgs {
  std::string model, tokens, out, device = "cpu";
  int chunk = 0;
  int threads = 0;
};

Expected<std::vector<int32_t>> read_token_file(const std::string & path) {
  std::ifstream in(path);
  if (!in) return Status::error(path + ": cannot open");
  std::vector<int32_t> tokens;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception &) {
      used = 0;
    }
    if (used != word.size() || id < 0 || id > INT32_MAX)
      return Status::error(path + ": token " + std::to_string(tokens.size()) + " is \"" + word +
                           "\", not a non-negative integer id");
    tokens.push_back(int32_t(id));
  }
  if (tokens.empty()) return Status::error(path + ": no token ids");
  return tokens;
}

// Runs `tokens` through one sequence memory in chunks, writing each chunk's logits to `out`.
// `forward(chunk)` returns the chunk's logits (all rows).
template <typename Forward>
int write_chunked_logits(const LogitsArgs & args, const std::vector<int32_t> & tokens, Forward forward) {
  std::ofstream out(args.out, std::ios::binary | std::ios::trunc);
  if (!out) return fail("logits", args.out + ": cannot create");
  const size_t n = tokens.size();
  const size_t chunk = args.chunk > 0 ? size_t(args.chunk) : n;
  for (size_t start = 0; start < n; start += chunk) {
    auto logits = forward(std::span<const int32_t>(tokens).subspan(start, std::min(chunk, n - start)));
    if (!logits) return fail("logits", logits.status().with_context(args.tokens));
    const std::vector<float> & values = (*logits)[0].values;
    out.write(reinterpret_cast<const char *>(values.data()), std::streamsize(values.size() * sizeof(float)));
  }
  out.close();
  if (!out) return fail("logits", args.out + ": write failed");
  return 0;
}

int run_logits_cpu(const LogitsArgs & args, const std::vector<int32_t> & tokens) {
  auto model = Model::open(args.model, ModelOptions{args.threads, 0});
  if (!model) return fail("logits", model.status());
  SequenceMemory memory = (*model)->new_memory();
  return write_chunked_logits(args, tokens, [&](std::span<const int32_t> chunk) {
    SequenceInput input{&memory, chunk, LogitRows::all};
    return (*model)->forward(std::span<const SequenceInput>(&input, 1));
  });
}

int run_logits_cuda(const LogitsArgs & args, const std::vector<int32_t> & tokens, int device) {
  GpuModelOptions options;
  options.device = device;
  options.max_sequences = 1;
  options.max_cached_tokens = int64_t(tokens.size());
  auto model = GpuModel::open(args.model, options);
  if (!model) return fail("logits", model.status());
  auto memory = (*model)->new_memory();
  if (!memory) return fail("logits", memory.status());
  return write_chunked_logits(args, tokens, [&](std::span<const int32_t> chunk) {
    GpuSequenceInput input{&*memory, chunk, LogitRows::all};
    return (*model)->forward(std::span<const GpuSequenceInput>(&input, 1));
  });
}

int run_logits(const LogitsArgs & args) {
  if (args.chunk < 0) return fail("logits", "--chunk must be >= 0");
  Expected<std::vector<int>> devices = parse_device_list(args.device);
  if (!devices) return fail("logits", devices.status());
  if (devices->size() > 1) return fail("logits", "one device at a time (cpu, cuda or cuda:N)");
  auto tokens = read_token_file(args.tokens);
  if (!tokens) return fail("logits", tokens.status());
  return devices->empty() ? run_logits_cpu(args, *tokens) : run_logits_cuda(args, *tokens, devices->front());
}

}  // namespace

void add_logits_command(CLI::App & app, CommandList & commands) {
  auto args = std::make_shared<LogitsArgs>();
  CLI::App * sub = app.add_subcommand("logits", "float32 logits [n_tokens x vocab] of a token file");
  sub->add_option("--model", args->model, "model folder (config.json + safetensors)")->required();
  sub->add_option("--tokens", args->tokens, "file of whitespace-separated token ids")->required();
  sub->add_option("--out", args->out, "output file: float32 little-endian [n_tokens x vocab]")->required();
  sub->add_option("--chunk", args->chunk, "feed N tokens at a time through the sequence memory (0: all)");
  sub->add_option("--threads", args->threads, "CPU threads (0: all)");
  sub->add_option("--device", args->device, "cpu, cuda (GPU 0) or cuda:N (GPU N): bf16 weights on the GPU");
  commands.push_back({sub, [args] { return run_logits(*args); }});
}

}  // namespace m1::cli
