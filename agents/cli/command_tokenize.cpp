// `m1 tokenize (--model DIR | --tokenizer FILE) [--decode]`: stdin text -> space-separated ids, or
// with --decode stdin ids (whitespace-separated) -> text. The text is encoded as it is, trailing
// newline included, and no special token is added.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "agents/cli/command.h"
#include "model/tokenizer.h"

namespace m1::cli {

namespace {

struct TokenizeOptions {
  std::string model_dir;
  std::string tokenizer_file;
  bool decode = false;
};

std::string read_stdin() {
  std::ios::sync_with_stdio(false);
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

int decode_ids(const Tokenizer & tokenizer, const std::string & input) {
  std::vector<TokenId> ids;
  size_t pos = 0;
  while (true) {
    pos = input.find_first_not_of(" \t\r\n", pos);
    if (pos == std::string::npos) break;
    size_t end = input.find_first_of(" \t\r\n", pos);
    if (end == std::string::npos) end = input.size();
    std::string word = input.substr(pos, end - pos);
    TokenId id = 0;
    auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), id);
    if (ec != std::errc() || ptr != word.data() + word.size())
      return fail("tokenize", "stdin: \"" + word + "\" is not a token id");
    if (!tokenizer.is_defined(id))
      return fail("tokenize", "stdin: id " + word + " is not in the vocabulary (size " +
                                  std::to_string(tokenizer.vocab_size()) + ")");
    ids.push_back(id);
    pos = end;
  }
  std::string text = tokenizer.decode(ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int run_tokenize(const TokenizeOptions & options) {
  std::string path = options.model_dir.empty() ? options.tokenizer_file : options.model_dir;
  Expected<Tokenizer> tokenizer = Tokenizer::load(path);
  if (!tokenizer) return fail("tokenize", tokenizer.status());
  std::string input = read_stdin();
  if (options.decode) return decode_ids(*tokenizer, input);
  std::string out;
  for (TokenId id : tokenizer->encode(input)) {
    if (!out.empty()) out += ' ';
    out += std::to_string(id);
  }
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void add_tokenize_command(CLI::App & app, CommandList & commands) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App * sub = app.add_subcommand(
      "tokenize", "stdin text -> token ids (space-separated), or ids -> text with --decode");
  CLI::Option * model = sub->add_option("--model", options->model_dir,
                                        "model directory (tokenizer.json, or vocab.json + merges.txt)");
  CLI::Option * file = sub->add_option("--tokenizer", options->tokenizer_file,
                                       "a tokenizer.json (or a *vocab.json with its *merges.txt beside it)");
  model->excludes(file);
  sub->add_flag("--decode", options->decode, "read ids from stdin and write their text");
  commands.push_back({sub, [options] {
                        if (options->model_dir.empty() && options->tokenizer_file.empty())
                          return fail("tokenize", "give --model DIR or --tokenizer FILE");
                        return run_tokenize(*options);
                      }});
}

}  // namespace m1::cli
