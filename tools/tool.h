// The contract between the agent and a tool: a name, a description, a JSON Schema for the
// arguments (the OpenAI-style function-schema convention), and a result for the model plus
// metadata for front ends. A tool failure is a result with is_error set, never an exception.
#pragma once

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

namespace m1::tools {

using Json = nlohmann::ordered_json;  // key order kept: schemas are rendered into the prompt

struct ToolSpec {
  std::string name;
  std::string description;
  Json parameters;  // JSON Schema of the arguments object
};

struct ToolResult {
  std::string text;  // what the model reads
  bool is_error = false;
  Json metadata = Json::object();  // for front ends, e.g. {"diff": "..."}

  static ToolResult error(std::string text) { return ToolResult{std::move(text), true, Json::object()}; }
  static ToolResult success(std::string text) { return ToolResult{std::move(text), false, Json::object()}; }
};

// What a call runs against. The workspace is the only part of the host file system a tool may
// touch; the scratch folder (inside the workspace by default, so the model can read what lands
// there) receives spilled outputs and the edit history.
struct ToolContext {
  std::string workspace;    // absolute host path of the workspace root
  std::string scratch_dir;  // absolute, or relative to the workspace; empty = .m1/scratch
  const std::atomic<bool> * cancel = nullptr;  // set by another thread to stop the call
  std::string session_id;   // tools keep per-session state (the persistent shell) under this key

  bool cancelled() const { return cancel && cancel->load(std::memory_order_relaxed); }
  std::string scratch() const { return scratch_dir.empty() ? ".m1/scratch" : scratch_dir; }
};

// A tool. call() receives arguments that already passed validation against spec().parameters,
// may run on several threads at once (implementations guard their own state), and reports
// every failure as a result with is_error set.
class Tool {
public:
  virtual ~Tool() = default;
  virtual const ToolSpec & spec() const = 0;
  virtual ToolResult call(const Json & arguments, const ToolContext & context) = 0;
  // Drops what the tool keeps for a session (e.g. kills its persistent shell).
  virtual void end_session(const std::string & session_id) { (void)session_id; }
};

// The tool as it appears in the prompt's tool list:
// {"type": "function", "function": {"name", "description", "parameters"}}.
Json function_schema(const ToolSpec & spec);

}  // namespace m1::tools
