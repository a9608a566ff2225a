// The contract between the agent and a tool: a name, a description, a JSON Schema for the
// arguments (the OpenAI-style function-schema convention), and a result for the model plus
// metadata for front ends. A tool failure is a result with is_error set, never an exception.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace m1::tools {

struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::ordered_json parameters;  // JSON Schema of the arguments object; key order kept
};

struct ToolResult {
  std::string text;                 // what the model reads
  bool is_error = false;
  nlohmann::ordered_json metadata;  // for front ends, e.g. {"diff": "..."}
};

// The tool as it appears in the prompt's tool list:
// {"type": "function", "function": {"name", "description", "parameters"}}.
nlohmann::ordered_json function_schema(const ToolSpec & spec);

}  // namespace m1::tools
