// `m1 parse [--chunk N]`: stdin model output -> JSON {reasoning, content, tool_calls[{name,
// arguments}], errors[]} (model/tool_call_parser.h). --chunk N feeds the streaming parser N bytes
// at a time; the result is the same by design, which makes this a check of that property too.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "agents/cli/command.h"
#include "model/tool_call_parser.h"

namespace m1::cli {

namespace {

int run_parse(size_t chunk) {
  std::ios::sync_with_stdio(false);
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  OutputParser parser;
  std::string_view rest = input;
  size_t step = chunk == 0 ? std::max<size_t>(rest.size(), 1) : chunk;
  while (!rest.empty()) {
    parser.feed(rest.substr(0, step));
    rest.remove_prefix(std::min(step, rest.size()));
  }
  parser.finish();
  // Model output may hold ill-formed UTF-8; the JSON shows it as U+FFFD rather than failing.
  std::string out =
      parser.result().to_json().dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void add_parse_command(CLI::App & app, CommandList & commands) {
  auto chunk = std::make_shared<size_t>(0);
  CLI::App * sub =
      app.add_subcommand("parse", "stdin model output -> JSON reasoning, content, tool calls, errors");
  sub->add_option("--chunk", *chunk, "feed the streaming parser N bytes at a time (0: all at once)");
  commands.push_back({sub, [chunk] { return run_parse(*chunk); }});
}

}  // namespace m1::cli
