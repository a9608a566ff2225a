// `m1 run TASK.json... [--parallel N] [--out results.jsonl] [--model DIR|script:FILE]`: runs
// scripted tasks (agents/task.h), shows a progress bar on stderr, prints a results table
// (success, turns, tokens, time) and writes one JSON record per task to --out.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "agents/cli/command.h"
#include "agents/task_runner.h"

namespace m1::cli {

namespace {

struct RunArgs {
  std::vector<std::string> tasks;
  int parallel = 1;
  std::string out;
  std::string model;
  bool keep = false;
};

void draw_progress(size_t done, size_t total, size_t passed, const std::string & last, bool tty) {
  if (!tty) {
    std::fprintf(stderr, "[%zu/%zu] %s\n", done, total, last.c_str());
    return;
  }
  constexpr int kWidth = 30;
  int filled = total ? int(double(done) / double(total) * kWidth) : kWidth;
  std::string bar = std::string(size_t(filled), '#') + std::string(size_t(kWidth - filled), '-');
  std::fprintf(stderr, "\r\x1b[K[%s] %zu/%zu, %zu passed  %s", bar.c_str(), done, total, passed, last.c_str());
  if (done == total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

void print_table(const std::vector<agents::TaskRecord> & records) {
  size_t width = 4;
  for (const auto & r : records) width = std::max(width, r.task.size());
  std::printf("%-*s  %-6s %5s %10s %8s %10s %8s  %s\n", int(width), "task", "result", "turns", "tokens in", "out",
              "reused", "time", "stop");
  size_t passed = 0;
  for (const auto & r : records) {
    passed += r.success;
    std::printf("%-*s  %-6s %5d %10lld %8lld %10lld %7.2fs  %s\n", int(width), r.task.c_str(), r.success ? "pass" : "FAIL",
                r.turns, (long long)r.tokens_in, (long long)r.tokens_out, (long long)r.tokens_reused, r.seconds,
                r.stop_reason.c_str());
  }
  std::printf("%zu/%zu passed\n", passed, records.size());
  for (const auto & r : records)
    if (!r.success)
      std::printf("  %s: %s%s\n", r.task.c_str(), r.detail.c_str(),
                  r.check_exit > 0 ? (" (checker exit " + std::to_string(r.check_exit) + ")").c_str() : "");
}

int run_tasks_command(const RunArgs & args) {
  std::vector<agents::TaskSpec> tasks;
  for (const std::string & path : args.tasks) {
    Expected<agents::TaskSpec> task = agents::load_task(path);
    if (!task.ok()) return fail("run", task.status());
    tasks.push_back(std::move(*task));
  }
  if (args.parallel < 1) return fail("run", "--parallel: expected a number >= 1, got " + std::to_string(args.parallel));
  std::ofstream out;
  if (!args.out.empty()) {
    out.open(args.out, std::ios::binary | std::ios::trunc);
    if (!out) return fail("run", args.out + ": cannot write the results file");
  }
  Expected<std::string> store_path = agents::default_store_path();
  if (!store_path.ok()) return fail("run", store_path.status());
  Expected<std::unique_ptr<agents::SessionStore>> store = agents::SessionStore::open(*store_path);
  if (!store.ok()) return fail("run", store.status());

  agents::TaskRunOptions options;
  options.model = args.model;
  options.store = store->get();
  options.parallel = args.parallel;
  options.keep_workspaces = args.keep;
  bool tty = isatty(STDERR_FILENO) == 1;
  size_t passed = 0;
  draw_progress(0, tasks.size(), 0, "", tty && !tasks.empty());
  std::vector<agents::TaskRecord> records =
      agents::run_tasks(tasks, options, [&](const agents::TaskRecord & r, size_t done) {
        passed += r.success;
        draw_progress(done, tasks.size(), passed, r.task + (r.success ? " pass" : " FAIL"), tty);
        if (out) out << agents::task_record_to_json(r).dump(-1, ' ', false, agents::Json::error_handler_t::replace) << "\n" << std::flush;
      });
  print_table(records);
  if (passed != records.size())
    return fail("run", std::to_string(records.size() - passed) + " of " + std::to_string(records.size()) + " tasks failed");
  return 0;
}

}  // namespace

void add_run_command(CLI::App & app, CommandList & commands) {
  auto args = std::make_shared<RunArgs>();
  CLI::App * sub = app.add_subcommand("run", "scripted tasks, results table");
  sub->add_option("tasks", args->tasks, "task files (JSON)")->required();
  sub->add_option("--parallel", args->parallel, "tasks run at once (default 1)");
  sub->add_option("--out", args->out, "write one JSON record per task (JSONL)");
  sub->add_option("--model", args->model, "model directory or script:FILE.json (default: each task's solution)");
  sub->add_flag("--keep", args->keep, "keep each task's temporary workspace (its path is in the record)");
  commands.push_back({sub, [args] { return run_tasks_command(*args); }});
}

}  // namespace m1::cli
