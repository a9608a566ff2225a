// Scripted tasks (examples/tasks/*.json): a prompt, the workspace files to create, the tools
// offered, a checker command run in the sandbox whose exit status decides success, limits, and
// optionally a scripted solution (a JSON array of assistant outputs) used when no --model is given.
//
//   {"name": "fix-off-by-one", "prompt": "...", "files": {"sum.py": "..."},
//    "tools": ["bash", "str_replace_based_edit_tool"], "check": "python3 test_sum.py",
//    "limits": {"max_turns": 10, "max_tokens": 100000, "max_seconds": 120},
//    "solution": "fix-off-by-one.solution.json"}
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agents/agent_loop.h"

namespace m1::agents {

struct TaskSpec {
  std::string path;                          // the task file
  std::string name;
  std::string prompt;
  std::map<std::string, std::string> files;  // workspace-relative path -> content
  std::vector<std::string> tools;            // empty: every built-in tool
  std::string check;                         // shell command, run with sh -c in the workspace
  LoopLimits limits;
  double check_seconds = 60;
  std::string solution;                      // absolute path of the scripted solution, or empty
};

// Reads and checks a task file; errors name the file and the key.
Expected<TaskSpec> load_task(const std::string & path);

// Creates the task's files under `workspace` (an existing folder). Refuses paths that leave it.
Status create_workspace_files(const TaskSpec & task, const std::string & workspace);

}  // namespace m1::agents
