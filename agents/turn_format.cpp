#include "agents/turn_format.h"

namespace m1::agents {

namespace {

constexpr std::string_view kBeginDocument = "<begin_of_document>";
constexpr std::string_view kBeginSentence = "<beginning_of_sentence>";
constexpr std::string_view kEndSentence = "<end_of_sentence>";
constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kCallsOpen = "<tool_calls>";
constexpr std::string_view kCallsClose = "</tool_calls>";

// Python's json.dumps with its default separators (", " and ": ") and non-ASCII kept, which is
// what the official template's tojson produces for the tool list.
void dump_python_style(const Json & value, std::string & out) {
  if (value.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      out += Json(it.key()).dump();
      out += ": ";
      dump_python_style(it.value(), out);
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    for (size_t i = 0; i < value.size(); ++i) {
      if (i) out += ", ";
      dump_python_style(value[i], out);
    }
    out += ']';
  } else {
    out += value.dump();
  }
}

std::string trim_newlines(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == '\r')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  return std::string(text);
}

std::string trim(std::string_view text) {
  const char * space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(space);
  return std::string(text.substr(begin, end - begin + 1));
}

// One line of a <tool_calls> block: {"name": string, "arguments": object (or a JSON string that
// holds an object)}.
void parse_call_line(const std::string & line, ParsedOutput & out) {
  Json call = Json::parse(line, nullptr, false);
  auto fail = [&](const std::string & why) { out.errors.push_back("tool call line " + line + ": " + why); };
  if (call.is_discarded() || !call.is_object()) return fail("not a JSON object");
  auto name = call.find("name");
  if (name == call.end() || !name->is_string()) return fail("expected a string \"name\"");
  auto arguments = call.find("arguments");
  if (arguments == call.end()) return fail("expected an object \"arguments\"");
  Json args = *arguments;
  if (args.is_string()) args = Json::parse(args.get<std::string>(), nullptr, false);
  if (args.is_discarded() || !args.is_object()) return fail("\"arguments\" is not a JSON object");
  out.calls.push_back({name->get<std::string>(), std::move(args), line});
}

void parse_calls_block(std::string_view block, ParsedOutput & out) {
  size_t start = 0;
  while (start <= block.size()) {
    size_t end = block.find('\n', start);
    if (end == std::string_view::npos) end = block.size();
    std::string line = trim(block.substr(start, end - start));
    if (!line.empty()) parse_call_line(line, out);
    start = end + 1;
  }
}

// The longest suffix of `text` that is a proper prefix of `tag` (a tag that may still be arriving).
size_t partial_tag_length(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

void add_delta(std::vector<OutputDelta> & deltas, OutputDelta::Kind kind, std::string_view text) {
  if (text.empty()) return;
  if (!deltas.empty() && deltas.back().kind == kind) deltas.back().text += text;
  else deltas.push_back({kind, std::string(text)});
}

}  // namespace

std::string render_prompt_head(const std::vector<Message> & system_messages, const Json & tools) {
  std::string out(kBeginDocument);
  std::string system;
  for (const Message & m : system_messages) system += m.text;
  if (!system.empty()) {
    out += kBeginSentence;
    out += "system ai_setting=assistant\n" + system;
    out += kEndSentence;
    out += "\n";
  }
  if (tools.is_array() && !tools.empty()) {
    out += kBeginSentence;
    out += "system tool_setting=tools\nYou are provided with these tools:\n<tools>\n";
    for (const Json & tool : tools) {
      dump_python_style(tool, out);
      out += '\n';
    }
    out += "</tools>\n\nIf you need to call tools, please respond with <tool_calls></tool_calls> XML tags, and "
           "provide tool-name and json-object of arguments, following the format below:\n<tool_calls>\n"
           "{name: <tool-name-1>, arguments: <args-json-object-1>}\n...\n</tool_calls>";
    out += kEndSentence;
    out += "\n";
  }
  return out;
}

std::string render_message(const Message & message) {
  std::string out(kBeginSentence);
  switch (message.role) {
  case Role::system:  // system text belongs in the head; rendered here only if misplaced
  case Role::user:
    out += "user name=user\n" + message.text;
    break;
  case Role::assistant:
    out += "ai name=assistant\n" + message.raw;
    break;
  case Role::tool:
    out += "tool name=tools\n";
    for (const ToolOutcome & r : message.results) out += "tool name: " + r.name + "\ntool result: " + r.text + "\n\n";
    break;
  }
  out += kEndSentence;
  out += "\n";
  return out;
}

std::string generation_prompt() { return std::string(kBeginSentence) + "ai name=assistant\n"; }

std::string assistant_message_end() { return std::string(kEndSentence) + "\n"; }

std::string render_prompt(const std::vector<Message> & messages, const Json & tools) {
  std::vector<Message> system;
  for (const Message & m : messages)
    if (m.role == Role::system) system.push_back(m);
  std::string out = render_prompt_head(system, tools);
  for (const Message & m : messages)
    if (m.role != Role::system) out += render_message(m);
  return out + generation_prompt();
}

ParsedOutput parse_output(std::string_view output) {
  ParsedOutput out;
  if (size_t eos = output.rfind(kEndSentence); eos != std::string_view::npos && eos + kEndSentence.size() == output.size())
    output = output.substr(0, eos);
  std::string_view rest = output;
  size_t lead = rest.find_first_not_of(" \t\r\n");
  if (lead != std::string_view::npos && rest.substr(lead, kThinkOpen.size()) == kThinkOpen) {
    rest.remove_prefix(lead + kThinkOpen.size());
    size_t close = rest.find(kThinkClose);
    if (close == std::string_view::npos) {
      out.reasoning = trim_newlines(rest);
      out.errors.push_back("unterminated <think>: the output ended inside the reasoning");
      return out;
    }
    out.reasoning = trim_newlines(rest.substr(0, close));
    rest.remove_prefix(close + kThinkClose.size());
  }
  std::string text;
  for (;;) {
    size_t open = rest.find(kCallsOpen);
    if (open == std::string_view::npos) {
      text += rest;
      break;
    }
    text += rest.substr(0, open);
    rest.remove_prefix(open + kCallsOpen.size());
    size_t close = rest.find(kCallsClose);
    parse_calls_block(rest.substr(0, close), out);
    if (close == std::string_view::npos) {
      out.errors.push_back("unterminated <tool_calls> block: the output ended before </tool_calls>");
      break;
    }
    rest.remove_prefix(close + kCallsClose.size());
  }
  out.text = trim(text);
  return out;
}

std::vector<OutputDelta> OutputReader::feed(std::string_view chunk) {
  output_ += chunk;
  return advance(false);
}

std::vector<OutputDelta> OutputReader::finish() { return advance(true); }

std::vector<OutputDelta> OutputReader::advance(bool at_end) {
  std::vector<OutputDelta> deltas;
  for (;;) {
    std::string_view rest = std::string_view(output_).substr(position_);
    if (state_ == State::start) {
      size_t lead = rest.find_first_not_of(" \t\r\n");
      if (lead == std::string_view::npos) {
        if (at_end) position_ = output_.size();
        return deltas;
      }
      std::string_view head = rest.substr(lead);
      if (head.substr(0, kThinkOpen.size()) == kThinkOpen) {
        position_ += lead + kThinkOpen.size();
        state_ = State::reasoning;
      } else if (!at_end && kThinkOpen.substr(0, head.size()) == head) {
        return deltas;  // maybe "<think>" still arriving
      } else {
        state_ = State::text;
      }
      continue;
    }
    if (state_ == State::calls) {
      size_t close = rest.find(kCallsClose);
      if (close == std::string_view::npos) {
        if (at_end) position_ = output_.size();
        return deltas;
      }
      position_ += close + kCallsClose.size();
      state_ = State::text;
      continue;
    }
    std::string_view tag = state_ == State::reasoning ? kThinkClose : kCallsOpen;
    OutputDelta::Kind kind = state_ == State::reasoning ? OutputDelta::Kind::reasoning : OutputDelta::Kind::text;
    size_t found = rest.find(tag);
    if (found == std::string_view::npos) {
      size_t keep = at_end ? 0 : partial_tag_length(rest, tag);
      add_delta(deltas, kind, rest.substr(0, rest.size() - keep));
      position_ += rest.size() - keep;
      return deltas;
    }
    add_delta(deltas, kind, rest.substr(0, found));
    position_ += found + tag.size();
    state_ = state_ == State::reasoning ? State::text : State::calls;
  }
}

}  // namespace m1::agents
