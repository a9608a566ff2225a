// The `m1` executable: parses the command line (CLI11) and runs one subcommand. Every failure,
// including a bad command line, ends as one line "m1: <what>: <why>" and a non-zero exit status.
#include <cstdio>
#include <exception>
#include <string>

#include "agents/cli/command.h"
#include "m1_build_config.h"

namespace {

// The exit status for a command line that could not be parsed (as sysexits' EX_USAGE family
// and most CLIs use 2).
constexpr int kUsageError = 2;

std::string known_commands(const CLI::App & app) {
  std::string names;
  for (const CLI::App * sub : app.get_subcommands([](const CLI::App *) { return true; }))
    names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

bool is_command(const CLI::App & app, const std::string & name) {
  for (const CLI::App * sub : app.get_subcommands([](const CLI::App *) { return true; }))
    if (sub->get_name() == name) return true;
  return false;
}

int report_parse_error(const CLI::App & app, const CLI::ParseError & e, int argc, char ** argv) {
  // An unknown first word is the most common mistake: say so plainly.
  if (argc > 1 && argv[1][0] != '-' && !is_command(app, argv[1])) {
    m1::cli::fail(argv[1], "unknown command (commands: " + known_commands(app) + ")");
    return kUsageError;
  }
  std::string what = "arguments";
  for (const CLI::App * sub : app.get_subcommands())
    what = sub->get_name();
  m1::cli::fail(what, e.what());
  return kUsageError;
}

}  // namespace

int main(int argc, char ** argv) {
  CLI::App app{"m1: an agent runtime for MiniMax-M1", "m1"};
  app.set_version_flag("--version", std::string("m1 ") + M1_VERSION);
  app.require_subcommand(1, 1);
  app.fallthrough(false);

  m1::cli::CommandList commands;
  m1::cli::add_doctor_command(app, commands);
  m1::cli::add_tokenize_command(app, commands);
  m1::cli::add_render_command(app, commands);
  m1::cli::add_parse_command(app, commands);
  m1::cli::add_logits_command(app, commands);
#if !M1_ENGINE_ONLY
  m1::cli::add_sandbox_command(app, commands);
  m1::cli::add_tool_command(app, commands);
  m1::cli::add_agent_command(app, commands);
  m1::cli::add_run_command(app, commands);
#endif
  m1::cli::add_bench_command(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success & e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError & e) {
    return report_parse_error(app, e, argc, argv);
  }

  try {
    for (const m1::cli::Command & command : commands)
      if (command.app->parsed()) return command.run();
  } catch (const std::exception & e) {
    // Commands report expected failures themselves; this is the last line of defence so that a
    // bug never ends in an abort and a stack trace.
    return m1::cli::fail("internal error", e.what());
  }
  return m1::cli::fail("arguments", "no command given");
}
