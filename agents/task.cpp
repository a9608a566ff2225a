#include "agents/task.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace m1::agents {

namespace {

namespace fs = std::filesystem;

Status key_error(const std::string & path, const std::string & key, const std::string & expected) {
  return Status::error(path + ": \"" + key + "\": expected " + expected);
}

Status read_limits(const std::string & path, const Json & json, TaskSpec & task) {
  auto limits = json.find("limits");
  if (limits == json.end()) return Status();
  if (!limits->is_object()) return key_error(path, "limits", "an object");
  for (auto it = limits->begin(); it != limits->end(); ++it) {
    if (!it->is_number() || it->get<double>() < 0) return key_error(path, "limits." + it.key(), "a number >= 0");
    if (it.key() == "max_turns") task.limits.max_turns = it->get<int>();
    else if (it.key() == "max_tokens") task.limits.max_tokens = it->get<int64_t>();
    else if (it.key() == "max_seconds") task.limits.max_seconds = it->get<double>();
    else if (it.key() == "check_seconds") task.check_seconds = it->get<double>();
    else return key_error(path, "limits." + it.key(), "one of max_turns, max_tokens, max_seconds, check_seconds");
  }
  return Status();
}

Status read_strings(const std::string & path, const Json & json, TaskSpec & task) {
  for (auto [key, out, required] : {std::tuple{"name", &task.name, false}, {"prompt", &task.prompt, true},
                                    {"check", &task.check, true}}) {
    auto it = json.find(key);
    if (it == json.end()) {
      if (required) return key_error(path, key, "a string (it is required)");
      continue;
    }
    if (!it->is_string() || it->get<std::string>().empty()) return key_error(path, key, "a non-empty string");
    *out = it->get<std::string>();
  }
  if (task.name.empty()) task.name = fs::path(path).stem().string();
  return Status();
}

Status read_files_and_tools(const std::string & path, const Json & json, TaskSpec & task) {
  if (auto files = json.find("files"); files != json.end()) {
    if (!files->is_object()) return key_error(path, "files", "an object of path -> content");
    for (auto it = files->begin(); it != files->end(); ++it) {
      if (!it->is_string()) return key_error(path, "files." + it.key(), "a string (the file's content)");
      task.files[it.key()] = it->get<std::string>();
    }
  }
  if (auto tools = json.find("tools"); tools != json.end()) {
    if (!tools->is_array()) return key_error(path, "tools", "an array of tool names");
    for (const Json & name : *tools) {
      if (!name.is_string()) return key_error(path, "tools", "an array of tool names");
      task.tools.push_back(name.get<std::string>());
    }
  }
  if (auto solution = json.find("solution"); solution != json.end()) {
    if (!solution->is_string()) return key_error(path, "solution", "a path to a JSON array of assistant outputs");
    fs::path file = solution->get<std::string>();
    task.solution = (file.is_absolute() ? file : fs::absolute(fs::path(path).parent_path() / file)).lexically_normal();
  }
  return Status();
}

}  // namespace

Expected<TaskSpec> load_task(const std::string & path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot read the task file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  Json json = Json::parse(buffer.str(), nullptr, false);
  if (json.is_discarded()) return Status::error(path + ": not valid JSON");
  if (!json.is_object()) return Status::error(path + ": expected a JSON object (a task)");
  TaskSpec task;
  task.path = path;
  M1_RETURN_IF_ERROR(read_strings(path, json, task));
  M1_RETURN_IF_ERROR(read_files_and_tools(path, json, task));
  M1_RETURN_IF_ERROR(read_limits(path, json, task));
  return task;
}

Status create_workspace_files(const TaskSpec & task, const std::string & workspace) {
  for (const auto & [relative, content] : task.files) {
    fs::path normal = fs::path(relative).lexically_normal();
    if (relative.empty() || normal.is_absolute() || *normal.begin() == "..")
      return Status::error(task.path + ": \"files." + relative + "\": expected a path inside the workspace");
    fs::path target = fs::path(workspace) / normal;
    std::error_code error;
    fs::create_directories(target.parent_path(), error);
    std::ofstream out(target, std::ios::binary);
    out << content;
    if (!out) return Status::error(target.string() + ": cannot write the task's file");
  }
  return Status();
}

}  // namespace m1::agents
