// Writes a random M1-shaped model folder for benchmarks by hand (not a test):
//   m1_write_random_model DIR [--size 20m|100m] [--seed N] [--tokenizer tokenizer.json]
// e.g. the ~20M-parameter model of the sessions benchmark (BENCHMARKS.md, "Sessions"). With
// --tokenizer the file is copied in as DIR/tokenizer.json (its ids must fit the model's vocab).
#include <cstdio>
#include <filesystem>
#include <string>

#include "model/random_checkpoint.h"

int main(int argc, char ** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: m1_write_random_model DIR [--size 20m|100m] [--seed N] [--tokenizer FILE]\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::string size = "20m", tokenizer;
  m1::RandomCheckpointOptions options;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--size") size = value;
    else if (key == "--seed") options.seed = std::stoull(value);
    else if (key == "--tokenizer") tokenizer = value;
    else return std::fprintf(stderr, "m1_write_random_model: unknown option %s\n", key.c_str()), 2;
  }
  if (size != "20m" && size != "100m") return std::fprintf(stderr, "m1_write_random_model: --size 20m or 100m\n"), 2;
  const m1::M1Dimensions dims = size == "100m" ? m1::m1_dimensions_100m() : m1::m1_dimensions_20m();
  m1::Status written = m1::write_random_checkpoint(dir, m1::m1_shaped_config(dims), options);
  if (!written.ok()) return std::fprintf(stderr, "m1_write_random_model: %s\n", written.message().c_str()), 1;
  if (!tokenizer.empty()) {
    std::error_code ec;
    std::filesystem::copy_file(tokenizer, std::filesystem::path(dir) / "tokenizer.json",
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return std::fprintf(stderr, "m1_write_random_model: %s: %s\n", tokenizer.c_str(), ec.message().c_str()), 1;
  }
  std::printf("%s: random M1-shaped %s model, seed %llu\n", dir.c_str(), size.c_str(), (unsigned long long)options.seed);
  return 0;
}
