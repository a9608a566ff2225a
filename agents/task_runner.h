// Runs scripted tasks: for each, a fresh temporary workspace with the task's files, the agent
// (the given model, else the task's scripted solution), then the checker command in the sandbox
// inside that workspace; its exit status decides success. Tasks run in parallel on N threads.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agents/session_store.h"
#include "agents/task.h"

namespace m1::agents {

struct TaskRunOptions {
  std::string model;              // --model; empty: the task's solution script
  SessionStore * store = nullptr;
  int parallel = 1;
  bool keep_workspaces = false;   // leave the temporary folders for inspection
};

struct TaskRecord {
  std::string task;               // name
  std::string path;
  bool success = false;
  std::string stop_reason;        // the loop's, or "error"
  std::string detail;             // why it stopped, or what failed
  int turns = 0;
  int64_t tokens_in = 0;          // prefilled
  int64_t tokens_out = 0;         // generated
  int64_t tokens_reused = 0;
  double seconds = 0;
  int check_exit = -1;            // the checker's shell status (-1: it did not run)
  std::string check_output;       // its stdout + stderr, clipped
  std::string session_id;
  std::string workspace;          // kept only with keep_workspaces
};

Json task_record_to_json(const TaskRecord & record);

TaskRecord run_task(const TaskSpec & task, const TaskRunOptions & options);

// Runs every task, `options.parallel` at a time; `on_done` is called (serialized) as each ends.
// Records come back in the order of `tasks`.
std::vector<TaskRecord> run_tasks(const std::vector<TaskSpec> & tasks, const TaskRunOptions & options,
                                  const std::function<void(const TaskRecord &, size_t done)> & on_done = {});

}  // namespace m1::agents
