#include "agents/task_runner.h"

#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "agents/agent_run.h"
#include "agents/model_factory.h"
#include "sandbox/sandbox.h"

namespace m1::agents {

namespace {

constexpr size_t kCheckOutputBytes = 2000;

// The checker runs isolated like any tool command, with a plain environment.
void run_check(const TaskSpec & task, const std::string & workspace, TaskRecord & record) {
  sandbox::Request request;
  request.argv = {"/bin/sh", "-c", task.check};
  request.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + workspace, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"};
  request.policy.workspace = workspace;
  request.limits.wall_seconds = task.check_seconds;
  Expected<sandbox::Result> result = sandbox::run(request);
  if (!result.ok()) {
    record.check_output = "the sandbox could not run the checker: " + result.status().message();
    return;
  }
  record.check_exit = result->shell_status();
  record.check_output = result->out.text() + result->err.text();
  if (record.check_output.size() > kCheckOutputBytes) record.check_output.resize(kCheckOutputBytes);
}

std::string make_workspace(std::string & error) {
  char name[] = "/tmp/m1-task-XXXXXX";
  if (!mkdtemp(name)) {
    error = std::string("cannot create a temporary workspace: ") + std::strerror(errno);
    return "";
  }
  return name;
}

void run_agent_in(const TaskSpec & task, const TaskRunOptions & options, const std::string & workspace,
                  TaskRecord & record) {
  std::string model_arg = options.model.empty() ? (task.solution.empty() ? "" : "script:" + task.solution) : options.model;
  Expected<std::unique_ptr<ModelBackend>> model = open_model(model_arg);
  if (!model.ok()) {
    record.stop_reason = "error";
    record.detail = task.solution.empty() && options.model.empty()
                        ? task.path + ": the task has no \"solution\" script; pass --model" : model.status().message();
    return;
  }
  AgentRunRequest request;
  request.task = task.prompt;
  request.workspace = workspace;
  request.model_name = model_arg;
  request.tools = task.tools;
  request.loop.limits = task.limits;
  request.store = options.store;
  Expected<AgentRunReport> report = run_agent(request, **model);
  if (!report.ok()) {
    record.stop_reason = "error";
    record.detail = report.status().message();
    return;
  }
  const LoopResult & r = report->result;
  record.session_id = report->session_id;
  record.stop_reason = stop_reason_name(r.reason);
  record.detail = r.detail;
  record.turns = r.turns;
  record.tokens_in = r.usage.prefilled;
  record.tokens_out = r.usage.generated;
  record.tokens_reused = r.usage.reused;
}

}  // namespace

Json task_record_to_json(const TaskRecord & r) {
  Json j{{"task", r.task}, {"path", r.path}, {"success", r.success}, {"stop_reason", r.stop_reason},
         {"detail", r.detail}, {"turns", r.turns}, {"tokens_in", r.tokens_in}, {"tokens_out", r.tokens_out},
         {"tokens_reused", r.tokens_reused}, {"seconds", r.seconds}, {"check_exit", r.check_exit},
         {"check_output", r.check_output}, {"session", r.session_id}};
  if (!r.workspace.empty()) j["workspace"] = r.workspace;
  return j;
}

TaskRecord run_task(const TaskSpec & task, const TaskRunOptions & options) {
  auto start = std::chrono::steady_clock::now();
  TaskRecord record;
  record.task = task.name;
  record.path = task.path;
  std::string error;
  std::string workspace = make_workspace(error);
  if (workspace.empty()) {
    record.stop_reason = "error";
    record.detail = error;
    return record;
  }
  Status created = create_workspace_files(task, workspace);
  if (!created.ok()) {
    record.stop_reason = "error";
    record.detail = created.message();
  } else {
    run_agent_in(task, options, workspace, record);
    // The checker decides, whatever the loop's stop reason (an agent may finish the work and
    // then run out of turns); it does not run when the agent could not start at all.
    if (record.stop_reason != "error") run_check(task, workspace, record);
    record.success = record.check_exit == 0;
  }
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.keep_workspaces) {
    record.workspace = workspace;
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(workspace, ignored);
  }
  return record;
}

std::vector<TaskRecord> run_tasks(const std::vector<TaskSpec> & tasks, const TaskRunOptions & options,
                                  const std::function<void(const TaskRecord &, size_t done)> & on_done) {
  std::vector<TaskRecord> records(tasks.size());
  std::atomic<size_t> next{0};
  std::mutex done_mutex;  // serializes on_done and the done count
  size_t done = 0;
  auto worker = [&] {
    for (size_t i = next++; i < tasks.size(); i = next++) {
      records[i] = run_task(tasks[i], options);
      std::lock_guard lock(done_mutex);
      ++done;
      if (on_done) on_done(records[i], done);
    }
  };
  size_t n_threads = size_t(std::max(1, std::min<int>(options.parallel, int(tasks.size()))));
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(worker);
  worker();
  for (std::thread & thread : threads) thread.join();
  return records;
}

}  // namespace m1::agents
