// `m1 agent "TASK" [--model DIR|script:FILE] [--workspace DIR] [--json]`: one agent run in a
// workspace (default: the current directory), streaming the transcript and ending with a summary
// line; the session is recorded in the store (M1_HOME, default ~/.m1). Ctrl-C stops the running
// tool (its partial output goes back to the model); a second Ctrl-C aborts the turn.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "agents/agent_run.h"
#include "agents/cli/command.h"
#include "agents/cli/transcript_printer.h"
#include "agents/model_factory.h"

namespace m1::cli {

namespace {

struct AgentArgs {
  std::string task;
  std::string model;
  std::string workspace;
  bool json = false;
};

std::atomic<int> g_interrupts{0};
void on_interrupt(int) { ++g_interrupts; }

// Turns Ctrl-C into the loop's two cancellation levels, from a thread (not the signal handler).
class InterruptWatcher {
public:
  InterruptWatcher() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigaction(SIGINT, &action, &previous_);
    thread_ = std::thread([this] { watch(); });
  }
  ~InterruptWatcher() {
    done_ = true;
    thread_.join();
    sigaction(SIGINT, &previous_, nullptr);
  }
  void attach(agents::AgentLoop * loop) {
    std::lock_guard lock(mutex_);
    loop_ = loop;
  }

private:
  void watch() {
    int handled = 0;
    while (!done_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      int seen = g_interrupts.load();
      std::lock_guard lock(mutex_);
      // The first Ctrl-C stops the running tool (or, between tools, the turn); the next aborts.
      for (; handled < seen; ++handled) {
        if (!loop_) continue;
        if (handled == 0 && loop_->tool_running()) loop_->stop_tool();
        else loop_->abort_turn();
      }
    }
  }
  struct sigaction previous_ {};
  std::atomic<bool> done_{false};
  std::mutex mutex_;  // guards loop_
  agents::AgentLoop * loop_ = nullptr;
  std::thread thread_;
};

int run_agent_command(const AgentArgs & args) {
  std::error_code error;
  std::string workspace = args.workspace.empty() ? std::filesystem::current_path(error).string() : args.workspace;
  if (!std::filesystem::is_directory(workspace, error)) return fail("agent", workspace + ": the workspace is not a directory");
  workspace = std::filesystem::canonical(workspace, error).string();
  if (args.model.empty())
    return fail("agent", "--model: no bundled model in this build; pass a model directory or script:FILE.json");
  Expected<std::unique_ptr<agents::ModelBackend>> model = agents::open_model(args.model);
  if (!model.ok()) return fail("agent", model.status());
  Expected<std::string> store_path = agents::default_store_path();
  if (!store_path.ok()) return fail("agent", store_path.status());
  Expected<std::unique_ptr<agents::SessionStore>> store = agents::SessionStore::open(*store_path);
  if (!store.ok()) return fail("agent", store.status());

  TranscriptPrinter transcript(stdout, isatty(STDOUT_FILENO) == 1);
  JsonLinesPrinter json_lines(stdout);
  agents::AgentRunRequest request;
  request.task = args.task;
  request.workspace = workspace;
  request.model_name = args.model;
  request.store = store->get();
  request.snapshot_dir = std::filesystem::path(*store_path).parent_path().string() + "/snapshots";
  request.observers = {args.json ? static_cast<agents::LoopObserver *>(&json_lines) : &transcript};
  InterruptWatcher interrupts;
  Expected<agents::AgentRunReport> report =
      agents::run_agent(request, **model, [&](agents::AgentLoop * loop) { interrupts.attach(loop); });
  if (!report.ok()) return fail("agent", report.status());
  if (args.json) json_lines.print_summary(report->result, report->session_id);
  else transcript.print_summary(report->result, report->session_id);
  if (report->result.reason != agents::StopReason::answered)
    return fail("agent", std::string("stopped (") + agents::stop_reason_name(report->result.reason) + "): " +
                             report->result.detail);
  return 0;
}

}  // namespace

void add_agent_command(CLI::App & app, CommandList & commands) {
  auto args = std::make_shared<AgentArgs>();
  CLI::App * sub = app.add_subcommand("agent", "one-shot agent run, streamed transcript");
  sub->add_option("task", args->task, "what the agent should do")->required();
  sub->add_option("--model", args->model, "model directory, or script:FILE.json for the scripted model");
  sub->add_option("--workspace", args->workspace, "the folder the agent works in (default: the current directory)");
  sub->add_flag("--json", args->json, "one JSON object per event and per streamed output piece");
  commands.push_back({sub, [args] { return run_agent_command(*args); }});
}

}  // namespace m1::cli
