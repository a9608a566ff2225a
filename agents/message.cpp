#include "agents/message.h"

namespace m1::agents {

const char * role_name(Role role) {
  switch (role) {
  case Role::system: return "system";
  case Role::user: return "user";
  case Role::assistant: return "assistant";
  case Role::tool: return "tool";
  }
  return "?";
}

Message Message::system_message(std::string text) {
  Message m;
  m.role = Role::system;
  m.text = std::move(text);
  return m;
}

Message Message::user_message(std::string text) {
  Message m;
  m.role = Role::user;
  m.text = std::move(text);
  return m;
}

Message Message::tool_message(std::vector<ToolOutcome> results) {
  Message m;
  m.role = Role::tool;
  m.results = std::move(results);
  return m;
}

Json message_to_json(const Message & message) {
  Json j;
  j["role"] = role_name(message.role);
  switch (message.role) {
  case Role::system:
  case Role::user:
    j["text"] = message.text;
    if (message.summary) j["summary"] = true;
    break;
  case Role::assistant: {
    j["raw"] = message.raw;
    j["reasoning"] = message.reasoning;
    j["text"] = message.text;
    Json calls = Json::array();
    for (const ToolCall & call : message.tool_calls) calls.push_back({{"name", call.name}, {"arguments", call.arguments}});
    j["tool_calls"] = std::move(calls);
    if (message.aborted) j["aborted"] = true;
    break;
  }
  case Role::tool: {
    Json results = Json::array();
    for (const ToolOutcome & r : message.results) {
      Json one{{"name", r.name}, {"text", r.text}, {"is_error", r.is_error}};
      if (r.cancelled) one["cancelled"] = true;
      results.push_back(std::move(one));
    }
    j["results"] = std::move(results);
    break;
  }
  }
  return j;
}

namespace {

Status field_error(const std::string & field, const char * expected) {
  return Status::error("message." + field + ": expected " + expected);
}

Expected<std::string> string_field(const Json & json, const std::string & field) {
  auto it = json.find(field);
  if (it == json.end() || !it->is_string()) return field_error(field, "a string");
  return it->get<std::string>();
}

bool bool_field(const Json & json, const char * field) {
  auto it = json.find(field);
  return it != json.end() && it->is_boolean() && it->get<bool>();
}

Status read_assistant(const Json & json, Message & m) {
  for (auto [field, out] : {std::pair{"raw", &m.raw}, {"reasoning", &m.reasoning}, {"text", &m.text}}) {
    Expected<std::string> value = string_field(json, field);
    if (!value.ok()) return value.status();
    *out = *value;
  }
  auto calls = json.find("tool_calls");
  if (calls == json.end() || !calls->is_array()) return field_error("tool_calls", "an array");
  for (const Json & call : *calls) {
    Expected<std::string> name = string_field(call, "name");
    if (!name.ok()) return name.status().with_context("tool_calls");
    auto args = call.find("arguments");
    m.tool_calls.push_back({*name, args == call.end() ? Json::object() : *args});
  }
  m.aborted = bool_field(json, "aborted");
  return Status();
}

Status read_tool(const Json & json, Message & m) {
  auto results = json.find("results");
  if (results == json.end() || !results->is_array()) return field_error("results", "an array");
  for (const Json & r : *results) {
    Expected<std::string> name = string_field(r, "name");
    Expected<std::string> text = string_field(r, "text");
    if (!name.ok()) return name.status().with_context("results");
    if (!text.ok()) return text.status().with_context("results");
    m.results.push_back({*name, *text, bool_field(r, "is_error"), bool_field(r, "cancelled")});
  }
  return Status();
}

}  // namespace

Expected<Message> message_from_json(const Json & json) {
  if (!json.is_object()) return Status::error("message: expected a JSON object");
  Expected<std::string> role = string_field(json, "role");
  if (!role.ok()) return role.status();
  Message m;
  if (*role == "system" || *role == "user") {
    m.role = *role == "system" ? Role::system : Role::user;
    Expected<std::string> text = string_field(json, "text");
    if (!text.ok()) return text.status();
    m.text = *text;
    m.summary = bool_field(json, "summary");
    return m;
  }
  if (*role == "assistant") {
    m.role = Role::assistant;
    M1_RETURN_IF_ERROR(read_assistant(json, m));
    return m;
  }
  if (*role == "tool") {
    m.role = Role::tool;
    M1_RETURN_IF_ERROR(read_tool(json, m));
    return m;
  }
  return Status::error("message.role: expected system, user, assistant or tool, got '" + *role + "'");
}

}  // namespace m1::agents
