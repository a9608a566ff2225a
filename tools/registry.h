// The set of tools offered to the model: looks a call up by name, validates its arguments against
// the tool's schema and runs it. Every failure (unknown tool, arguments that are not JSON or do
// not match the schema, cancellation, a tool that throws) comes back as a ToolResult with
// is_error set and a message the model can act on.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tools/tool.h"

namespace m1::tools {

class ToolRegistry {
public:
  // Fails on a duplicate name or a name the tool-call format cannot carry.
  Status add(std::unique_ptr<Tool> tool);

  Tool * find(const std::string & name) const;
  std::vector<std::string> names() const;  // in registration order
  Json function_list() const;               // the prompt's tool list, in registration order

  // Validates and runs one call. Safe to call from several threads at once.
  ToolResult call(const std::string & name, const Json & arguments, const ToolContext & context) const;
  // The same, for arguments still in their JSON text form (as the model wrote them).
  ToolResult call_text(const std::string & name, const std::string & arguments_json,
                       const ToolContext & context) const;

  // Tells every tool that a session ended (persistent shells are killed).
  void end_session(const std::string & session_id) const;

private:
  std::vector<std::unique_ptr<Tool>> tools_;  // written only before calls start
};

}  // namespace m1::tools
