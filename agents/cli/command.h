// How the `m1` subcommands plug into the one executable, and the error convention they share:
// a failure prints one line "m1: <what>: <why>" to stderr and returns a non-zero exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace m1::cli {

struct Command {
  CLI::App * app;              // the parsed subcommand
  std::function<int()> run;    // runs it after parsing; returns the exit status
};
using CommandList = std::vector<Command>;

// Prints "m1: <what>: <why>" and returns 1, the exit status for a failed command.
int fail(std::string_view what, std::string_view why);
int fail(std::string_view what, const Status & status);

// Each command file defines one of these; main.cpp calls them all.
void add_doctor_command(CLI::App & app, CommandList & commands);
void add_tokenize_command(CLI::App & app, CommandList & commands);
void add_render_command(CLI::App & app, CommandList & commands);
void add_parse_command(CLI::App & app, CommandList & commands);
void add_sandbox_command(CLI::App & app, CommandList & commands);  // agent-only (!M1_ENGINE_ONLY)
void add_tool_command(CLI::App & app, CommandList & commands);  // agent-only (!M1_ENGINE_ONLY)
void add_agent_command(CLI::App & app, CommandList & commands);  // agent-only (!M1_ENGINE_ONLY)
void add_run_command(CLI::App & app, CommandList & commands);  // agent-only (!M1_ENGINE_ONLY)
void add_logits_command(CLI::App & app, CommandList & commands);
void add_bench_command(CLI::App & app, CommandList & commands);

}  // namespace m1::cli
