// Tokenizer encode throughput (BENCHMARKS.md): encodes a generated mixed-script text (English,
// other Latin, Cyrillic, CJK, Arabic, emoji, code, numbers, whitespace runs) of about 16 MB in one
// call, several times, and prints the median MB/s per tokenizer. Single thread.
//   m1_tokenizer_bench [--write FILE] [TOKENIZER_JSON...]
// --write saves the text, so that a peer (HF tokenizers) can encode the very same bytes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace {

std::string generate_text(size_t target_bytes) {
  const std::vector<std::string> words = {
      "the",       "of",       "and",   "to",     "in",      "is",         "that",  "for",     "with",
      "tokenizer", "model",    "state", "memory", "The",     "Hello",      "world", "don't",   "it's",
      "we'll",     "über",     "schön", "café",   "naïve",   "привет",     "мир",   "данные",  "你好",
      "世界",      "模型",     "数据",  "東京",   "日本語",  "안녕하세요", "مرحبا", "بالعالم", "שלום",
      "😀",         "👍🏽", "🎉",     "2024",   "3.14159", "1,000,000",  "0x1F",  "i++",     "foo(bar)",
      "x->y",      "{",        "}",     ";",      "==",      "\"quoted\""};
  const std::vector<std::string> separators = {" ",  " ",    " ",  " ",    ", ", ". ",
                                               "\n", "\n\n", "\t", "    ", "   "};
  std::mt19937 rng(2024);
  std::string text;
  text.reserve(target_bytes + 64);
  while (text.size() < target_bytes) {
    text += words[rng() % words.size()];
    text += separators[rng() % separators.size()];
  }
  return text;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char ** argv) {
  std::vector<std::string> paths;
  std::string write_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--write" && i + 1 < argc)
      write_path = argv[++i];
    else
      paths.push_back(arg);
  }
  if (paths.empty()) {
    for (const char * name : {"gpt2", "gpt4o", "fallback"})
      paths.push_back(std::string(M1_TEST_DATA_DIR) + "/tokenizer/" + name + ".tokenizer.json");
  }
  std::string text = generate_text(16u << 20);
  if (!write_path.empty()) std::ofstream(write_path, std::ios::binary) << text;
  double mb = double(text.size()) / 1e6;
  std::printf("text: %.1f MB generated (seed 2024)\n", mb);
  for (const std::string & path : paths) {
    m1::Expected<m1::Tokenizer> tok = m1::Tokenizer::load(path);
    if (!tok) {
      std::fprintf(stderr, "m1_tokenizer_bench: %s\n", tok.status().message().c_str());
      return 1;
    }
    size_t n_ids = tok->encode(text.substr(0, 1 << 20)).size();  // warm-up (and the word cache)
    std::vector<double> seconds;
    for (int run = 0; run < 5; ++run) {
      auto start = std::chrono::steady_clock::now();
      n_ids = tok->encode(text).size();
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    double s = median(seconds);
    std::printf("%-60s encode %7.2f MB/s  (%.3f s median of 5, %zu ids, %.2f bytes/id)\n", path.c_str(),
                mb / s, s, n_ids, double(text.size()) / double(n_ids));
  }
  return 0;
}
