// The model-output parser (see tool_call_parser.h): a byte-at-a-time state machine, so the result
// cannot depend on how the text was cut. Bytes that may begin a tag are held until they match or
// not; newlines that may turn out to be trailing are held until text follows them.
#include "model/tool_call_parser.h"

#include <array>
#include <utility>

#include "model/unicode_utf8.h"

namespace m1 {

namespace {

constexpr std::string_view kThink = "<think>", kThinkEnd = "</think>";
constexpr std::string_view kBlock = "<tool_calls>", kBlockEnd = "</tool_calls>";
constexpr std::string_view kEndOfSentence = "<end_of_sentence>";
constexpr std::string_view kCallShape =
    "Write each call on its own line inside <tool_calls></tool_calls> as "
    "{\"name\": \"<tool name>\", \"arguments\": {<arguments as a JSON object>}}.";
constexpr size_t kExcerptBytes = 200;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_newline(char c) { return c == '\n' || c == '\r'; }

std::string_view trim_blank(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string excerpt(std::string_view line) {
  if (line.size() <= kExcerptBytes) return utf8::replace_invalid(line);
  std::string_view head = line.substr(0, kExcerptBytes);
  head.remove_suffix(utf8::incomplete_tail_length(head));
  return utf8::replace_invalid(head) + "...";
}

std::string call_label(size_t index) { return "Tool call " + std::to_string(index + 1); }

std::string parse_error_detail(const char * what) {
  std::string text = what;
  size_t bracket = text.find("] ");
  return bracket == std::string::npos ? text : text.substr(bracket + 2);
}

// Parses `text` as JSON; on failure fills `detail` with the parser's reason.
std::optional<nlohmann::ordered_json> parse_json(std::string_view text, std::string & detail) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::ordered_json::parse_error & e) {
    detail = parse_error_detail(e.what());
    return std::nullopt;
  }
}

// The tags that mean something in each state (State order: start, reasoning, content, block, done).
std::array<std::string_view, 3> tags_for(int state) {
  switch (state) {
    case 0:
      return {kThink, kBlock, kEndOfSentence};
    case 1:
      return {kThinkEnd, kEndOfSentence, {}};
    case 2:
      return {kBlock, kEndOfSentence, {}};
    case 3:
      return {kBlockEnd, kEndOfSentence, {}};
    default:
      return {};
  }
}

}  // namespace

std::string_view to_string(OutputErrorKind kind) {
  switch (kind) {
    case OutputErrorKind::invalid_json:
      return "invalid_json";
    case OutputErrorKind::not_an_object:
      return "not_an_object";
    case OutputErrorKind::missing_name:
      return "missing_name";
    case OutputErrorKind::missing_arguments:
      return "missing_arguments";
    case OutputErrorKind::arguments_not_object:
      return "arguments_not_object";
    case OutputErrorKind::unterminated_block:
      return "unterminated_block";
    case OutputErrorKind::unterminated_reasoning:
      return "unterminated_reasoning";
  }
  return "unknown";
}

nlohmann::ordered_json ParsedOutput::to_json() const {
  nlohmann::ordered_json calls = nlohmann::ordered_json::array(), errs = nlohmann::ordered_json::array();
  for (const ParsedToolCall & call : tool_calls)
    calls.push_back({{"name", call.name}, {"arguments", call.arguments}});
  for (const OutputError & error : errors) {
    nlohmann::ordered_json entry = {{"kind", std::string(m1::to_string(error.kind))},
                                    {"message", error.message}};
    if (error.call_index) entry["call"] = *error.call_index;
    errs.push_back(std::move(entry));
  }
  return {{"reasoning", reasoning}, {"content", content}, {"tool_calls", calls}, {"errors", errs}};
}

void OutputParser::flush_delta(bool whole) {
  if (!pending_kind_ || pending_.empty()) return;
  size_t hold = whole ? 0 : utf8::incomplete_tail_length(pending_);
  if (pending_.size() > hold) {
    OutputEvent event{*pending_kind_, pending_.substr(0, pending_.size() - hold), pending_call_, {}, {}};
    events_.push_back(std::move(event));
    pending_.erase(0, pending_.size() - hold);
  }
}

void OutputParser::emit_delta(OutputEvent::Kind kind, std::string_view text, size_t call) {
  if (text.empty()) return;
  if (pending_kind_ != kind || pending_call_ != call) flush_delta(true);
  pending_kind_ = kind;
  pending_call_ = call;
  pending_.append(text);
}

void OutputParser::emit(OutputEvent event) {
  flush_delta(true);
  events_.push_back(std::move(event));
}

void OutputParser::report_error(OutputErrorKind kind, std::optional<size_t> call, std::string message) {
  OutputError error{kind, call, std::move(message)};
  result_.errors.push_back(error);
  emit({OutputEvent::Kind::error, {}, call.value_or(0), {}, std::move(error)});
}

void OutputParser::reasoning_byte(char c) {
  if (is_newline(c)) {
    if (reasoning_started_) held_newlines_ += c;  // leading newlines are dropped
    return;
  }
  reasoning_started_ = true;
  std::string text = std::move(held_newlines_) + c;
  held_newlines_.clear();
  result_.reasoning += text;
  emit_delta(OutputEvent::Kind::reasoning_delta, text);
}

void OutputParser::content_byte(char c) {
  if (is_newline(c)) {
    if (content_started_) held_newlines_ += c;
    return;
  }
  content_started_ = true;
  std::string text = std::move(held_newlines_) + c;
  held_newlines_.clear();
  result_.content += text;
  emit_delta(OutputEvent::Kind::text_delta, text);
}

void OutputParser::block_byte(char c) {
  if (c == '\n') {
    end_line();
    return;
  }
  line_ += c;
  scanner_.push(line_);
  stream_line_events();
}

void OutputParser::stream_line_events() {
  size_t index = n_candidates_;
  if (!call_announced_ && scanner_.name_literal()) {
    std::string detail;
    std::optional<nlohmann::ordered_json> name = parse_json(*scanner_.name_literal(), detail);
    if (name && name->is_string()) {
      call_announced_ = true;
      emit({OutputEvent::Kind::tool_call_start, name->get<std::string>(), index, {}, {}});
    }
  }
  if (call_announced_ && scanner_.arguments_begin()) {
    size_t begin = *scanner_.arguments_begin();
    size_t end = scanner_.arguments_end().value_or(line_.size());
    if (end > begin + arguments_sent_) {
      emit_delta(OutputEvent::Kind::arguments_delta,
                 std::string_view(line_).substr(begin + arguments_sent_, end - begin - arguments_sent_),
                 index);
      arguments_sent_ = end - begin;
    }
  }
}

void OutputParser::end_line() {
  std::string_view line = trim_blank(line_);
  if (line.empty()) {
    line_.clear();
    scanner_.reset();
    return;
  }
  size_t index = n_candidates_;
  std::string label = call_label(index), shown = excerpt(line);
  std::string detail;
  std::optional<nlohmann::ordered_json> value = parse_json(line, detail);
  std::optional<OutputErrorKind> failure;
  std::string message;
  nlohmann::ordered_json arguments;
  if (!value) {
    failure = OutputErrorKind::invalid_json;
    message = label + " is not valid JSON (" + detail + "): " + shown + ". " + std::string(kCallShape);
  } else if (!value->is_object()) {
    failure = OutputErrorKind::not_an_object;
    message = label + " is JSON but not an object: " + shown + ". " + std::string(kCallShape);
  } else if (!value->contains("name") || !(*value)["name"].is_string()) {
    failure = OutputErrorKind::missing_name;
    message = label + " has no string \"name\": " + shown + ". " + std::string(kCallShape);
  } else if (!value->contains("arguments")) {
    failure = OutputErrorKind::missing_arguments;
    message = label + " has no \"arguments\" (write {} when the tool takes none): " + shown + ".";
  } else {
    arguments = (*value)["arguments"];
    if (arguments.is_string()) {  // accepted: a JSON string that holds the object
      std::string inner_detail;
      arguments = parse_json(arguments.get<std::string>(), inner_detail).value_or(nlohmann::ordered_json());
    }
    if (!arguments.is_object()) {
      failure = OutputErrorKind::arguments_not_object;
      message = label + ": \"arguments\" must be a JSON object: " + shown + ". " + std::string(kCallShape);
    }
  }
  if (failure) {
    report_error(*failure, index, std::move(message));
  } else {
    ParsedToolCall call{index, (*value)["name"].get<std::string>(), std::move(arguments), std::string(line)};
    if (!call_announced_) {  // the name was not seen while streaming (e.g. an escaped key)
      emit({OutputEvent::Kind::tool_call_start, call.name, index, {}, {}});
      call_announced_ = true;
    }
    if (scanner_.arguments_begin()) {
      stream_line_events();  // whatever of the value is not sent yet
    } else {                 // the scanner did not see the key: send the value whole
      emit_delta(OutputEvent::Kind::arguments_delta, (*value)["arguments"].dump(), index);
    }
    result_.tool_calls.push_back(call);
    emit({OutputEvent::Kind::tool_call_done, {}, index, std::move(call), {}});
  }
  ++n_candidates_;
  line_.clear();
  scanner_.reset();
  call_announced_ = false;
  arguments_sent_ = 0;
}

void OutputParser::on_tag(std::string_view tag) {
  if (tag == kThink) {
    start_blank_.clear();
    state_ = State::reasoning;
  } else if (tag == kThinkEnd) {
    held_newlines_.clear();  // trailing newlines of the reasoning
    state_ = State::content;
  } else if (tag == kBlock) {
    start_blank_.clear();
    flush_delta(true);
    state_ = State::block;
  } else if (tag == kBlockEnd) {
    end_line();
    state_ = State::content;
  } else if (tag == kEndOfSentence) {
    close_open_state();
    state_ = State::done;
  }
}

bool OutputParser::try_tag(char c) {
  if (held_tag_.empty() && (c != '<' || (state_ == State::block && scanner_.in_string()))) return false;
  std::string candidate = held_tag_ + c;
  bool prefix = false;
  for (std::string_view tag : tags_for(int(state_))) {
    if (tag.empty()) continue;
    if (tag == candidate) {
      held_tag_.clear();
      on_tag(tag);
      return true;
    }
    prefix = prefix || tag.starts_with(candidate);
  }
  if (prefix) {
    held_tag_ = std::move(candidate);
    return true;
  }
  if (held_tag_.empty()) return false;
  // Not a tag after all: the first held byte is ordinary, the rest is scanned again.
  held_tag_.clear();
  ordinary_byte(candidate[0]);
  for (size_t i = 1; i < candidate.size(); ++i) push_byte(candidate[i]);
  return true;
}

void OutputParser::ordinary_byte(char c) {
  switch (state_) {
    case State::start:
      if (is_blank(c)) {
        start_blank_ += c;
        return;
      }
      state_ = State::content;
      for (char b : std::exchange(start_blank_, std::string())) content_byte(b);
      content_byte(c);
      return;
    case State::reasoning:
      reasoning_byte(c);
      return;
    case State::content:
      content_byte(c);
      return;
    case State::block:
      block_byte(c);
      return;
    case State::done:
      return;
  }
}

void OutputParser::push_byte(char c) {
  if (state_ == State::done) return;
  if (try_tag(c)) return;
  ordinary_byte(c);
}

void OutputParser::close_open_state() {
  if (state_ == State::reasoning) {
    held_newlines_.clear();
    report_error(
        OutputErrorKind::unterminated_reasoning, std::nullopt,
        "The output ended inside <think> without </think>, so there is no answer after the reasoning.");
  } else if (state_ == State::block) {
    end_line();
    report_error(
        OutputErrorKind::unterminated_block, std::nullopt,
        "The <tool_calls> block was not closed with </tool_calls>; only the complete calls before the "
        "end were kept.");
  }
}

std::vector<OutputEvent> OutputParser::feed(std::string_view bytes) {
  for (char c : bytes) push_byte(c);
  flush_delta(false);
  return std::exchange(events_, {});
}

std::vector<OutputEvent> OutputParser::finish() {
  if (state_ != State::done) {
    // Held bytes were not a tag: they are ordinary text (they cannot start a tag any more).
    std::string held = std::exchange(held_tag_, std::string());
    for (char c : held) ordinary_byte(c);
    close_open_state();
    held_newlines_.clear();  // trailing newlines of the content
    state_ = State::done;
  }
  flush_delta(true);
  return std::exchange(events_, {});
}

ParsedOutput parse_output(std::string_view text) {
  OutputParser parser;
  parser.feed(text);
  parser.finish();
  return parser.result();
}

}  // namespace m1
