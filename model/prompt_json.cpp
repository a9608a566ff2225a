// JSON for the prompt format: json.dumps-style serialization (the template's tojson) and reading
// conversations and tools in the shape of chat-template-cases.json (see prompt_format.h).
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "model/prompt_format.h"

namespace m1 {

namespace {

void append_string(std::string & out, const std::string & text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (uint8_t(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", unsigned(uint8_t(c)));
          out += escape;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// Python's repr(float): the shortest digits that round-trip, in positional notation when the
// decimal exponent is in [-5, 16), else as d.ddde+XX; positional values always show a ".0".
void append_float(std::string & out, double value) {
  if (std::isnan(value) || std::isinf(value)) {
    out += std::isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity");
    return;
  }
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);  // e.g. "-1.2345e+17"
  size_t e = sci.find('e');
  int exponent = std::atoi(sci.c_str() + e + 1);
  std::string mantissa = sci.substr(0, e);
  bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  if (negative) out += '-';
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digits.size() > 1) out.append(".").append(digits, 1);
    char exp_text[16];
    std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp_text;
  } else if (exponent < 0) {
    out.append("0.").append(size_t(-exponent - 1), '0').append(digits);
  } else if (size_t(exponent) + 1 >= digits.size()) {
    out.append(digits).append(size_t(exponent) + 1 - digits.size(), '0').append(".0");
  } else {
    out.append(digits, 0, size_t(exponent) + 1).append(".").append(digits, size_t(exponent) + 1);
  }
}

void append_json(std::string & out, const nlohmann::ordered_json & value) {
  switch (value.type()) {
    case nlohmann::ordered_json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto & [key, item] : value.items()) {
        if (!first) out += ", ";
        first = false;
        append_string(out, key);
        out += ": ";
        append_json(out, item);
      }
      out += '}';
      break;
    }
    case nlohmann::ordered_json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < value.size(); ++i) {
        if (i) out += ", ";
        append_json(out, value[i]);
      }
      out += ']';
      break;
    }
    case nlohmann::ordered_json::value_t::string:
      append_string(out, value.get_ref<const std::string &>());
      break;
    case nlohmann::ordered_json::value_t::number_float:
      append_float(out, value.get<double>());
      break;
    case nlohmann::ordered_json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      break;
    case nlohmann::ordered_json::value_t::null:
    case nlohmann::ordered_json::value_t::discarded:
      out += "null";
      break;
    default:
      out += value.dump();
      break;  // integers
  }
}

Expected<std::string> part_text(const nlohmann::ordered_json & part, const std::string & where) {
  if (!part.is_object() || !part.contains("text") || !part["text"].is_string())
    return Status::error(where + ": expected an object with a string \"text\"");
  return part["text"].get<std::string>();
}

Expected<Message> message_from_json(const nlohmann::ordered_json & entry, const std::string & where) {
  if (!entry.is_object() || !entry.contains("role") || !entry["role"].is_string())
    return Status::error(where + ": expected an object with a string \"role\"");
  std::string role = entry["role"].get<std::string>();
  nlohmann::ordered_json content = entry.value("content", nlohmann::ordered_json());
  if (content.is_string()) content = nlohmann::ordered_json::array({{{"type", "text"}, {"text", content}}});
  if (!content.is_array()) return Status::error(where + ": \"content\" must be a list of parts or a string");
  Message message;
  if (role == "system" || role == "user") {
    if (content.empty())
      return Status::error(where + ": \"content\" is empty (the template reads its first part)");
    Expected<std::string> text = part_text(content[0], where + ".content[0]");
    if (!text) return text.status();
    return role == "system" ? Message::system(*text) : Message::user(*text);
  }
  if (role == "assistant") {
    std::string text;
    for (const nlohmann::ordered_json & part : content)
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string())
        text += part["text"].get<std::string>();
    return Message::assistant(std::move(text));
  }
  if (role == "tool") {
    std::vector<ToolResult> results;
    for (size_t i = 0; i < content.size(); ++i) {
      std::string part_where = where + ".content[" + std::to_string(i) + "]";
      Expected<std::string> text = part_text(content[i], part_where);
      if (!text) return text.status();
      if (!content[i].contains("name") || !content[i]["name"].is_string())
        return Status::error(part_where + ": a tool result needs a string \"name\"");
      results.push_back({content[i]["name"].get<std::string>(), *text});
    }
    return Message::tool(std::move(results));
  }
  return Status::error(where + ": role \"" + role + "\" is not one of system, user, assistant, tool");
}

}  // namespace

std::string to_python_json(const nlohmann::ordered_json & value) {
  std::string out;
  append_json(out, value);
  return out;
}

Expected<Conversation> conversation_from_json(const nlohmann::ordered_json & messages) {
  if (!messages.is_array()) return Status::error("messages: expected a JSON array of messages");
  Conversation conversation;
  for (size_t i = 0; i < messages.size(); ++i) {
    Expected<Message> message = message_from_json(messages[i], "messages[" + std::to_string(i) + "]");
    if (!message) return message.status();
    conversation.push_back(std::move(*message));
  }
  return conversation;
}

Expected<ToolList> tools_from_json(const nlohmann::ordered_json & tools) {
  if (tools.is_null()) return ToolList{};
  if (!tools.is_array()) return Status::error("tools: expected a JSON array of tool definitions");
  ToolList list;
  for (size_t i = 0; i < tools.size(); ++i) {
    if (!tools[i].is_object())
      return Status::error("tools[" + std::to_string(i) + "]: expected a JSON object");
    list.push_back(tools[i]);
  }
  return list;
}

}  // namespace m1
