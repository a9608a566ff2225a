#include "agents/cli/transcript_printer.h"

namespace m1::cli {

namespace {

using agents::Json;

constexpr const char * kDim = "2";
constexpr const char * kBold = "1";
constexpr const char * kCyan = "36";
constexpr const char * kRed = "31";
constexpr const char * kYellow = "33";

// Tool output shown in the transcript: the model gets more; the screen gets the head and tail.
constexpr size_t kShownLines = 30;

std::string clip_lines(const std::string & text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  std::string out;
  size_t n = lines.size();
  for (size_t i = 0; i < n; ++i) {
    if (n > kShownLines && i == kShownLines / 2) {
      out += "    ... " + std::to_string(n - kShownLines) + " more lines ...\n";
      i = n - kShownLines / 2;
    }
    out += "    " + lines[i] + "\n";
  }
  return out;
}

std::string summary_text(const agents::LoopResult & r) {
  char time[32];
  std::snprintf(time, sizeof time, "%.1f s", r.seconds);
  return "turns " + std::to_string(r.turns) + ", tokens in " + std::to_string(r.usage.prefilled) + " / out " +
         std::to_string(r.usage.generated) + " / reused " + std::to_string(r.usage.reused) + ", " + time + ": " +
         agents::stop_reason_name(r.reason);
}

}  // namespace

std::string TranscriptPrinter::style(const char * code, const std::string & text) const {
  return styled_ ? "\x1b[" + std::string(code) + "m" + text + "\x1b[0m" : text;
}

void TranscriptPrinter::begin_line() {
  if (!at_line_start_) std::fputc('\n', out_);
  at_line_start_ = true;
}

void TranscriptPrinter::on_output(const agents::OutputDelta & delta) {
  std::string text = delta.text;
  if (!streaming_ || last_kind_ != delta.kind) {
    // A new section: drop the newlines that separate tags from their content.
    size_t first = text.find_first_not_of('\n');
    text = first == std::string::npos ? "" : text.substr(first);
    if (text.empty()) return;
    begin_line();
    if (delta.kind == agents::OutputDelta::Kind::reasoning) std::fputs(style(kDim, "thinking: ").c_str(), out_);
    streaming_ = true;
    last_kind_ = delta.kind;
  }
  std::fputs((delta.kind == agents::OutputDelta::Kind::reasoning ? style(kDim, text) : text).c_str(), out_);
  if (!text.empty()) at_line_start_ = text.back() == '\n';
  std::fflush(out_);
}

void TranscriptPrinter::print_tool_result(const Json & payload) {
  std::string text = payload.value("text", "");
  bool is_error = payload.value("is_error", false);
  std::string label = payload.value("cancelled", false) ? "cancelled" : is_error ? "error" : "ok";
  std::fputs(style(is_error ? kRed : kDim, "  <- " + payload.value("name", "") + ": " + label).c_str(), out_);
  std::fputc('\n', out_);
  std::string shown = clip_lines(text);
  std::fputs((is_error ? style(kRed, shown) : shown).c_str(), out_);
}

void TranscriptPrinter::on_event(const agents::Event & event) {
  const Json & p = event.payload;
  if (event.kind == agents::event_kind::message) {
    streaming_ = false;
    std::string role = p.value("role", "");
    if (role == "user") {
      begin_line();
      std::fputs((style(kBold, "user: ") + p.value("text", "") + "\n").c_str(), out_);
    } else if (role == "assistant") {
      begin_line();
    }
  } else if (event.kind == agents::event_kind::tool_call) {
    begin_line();
    std::fputs(style(kCyan, "  -> " + p.value("name", "") + " " + p["arguments"].dump()).c_str(), out_);
    std::fputc('\n', out_);
  } else if (event.kind == agents::event_kind::tool_result) {
    begin_line();
    print_tool_result(p);
  } else if (event.kind == agents::event_kind::compaction) {
    begin_line();
    std::string line = "[compaction: " + std::to_string(p.value("tokens_before", 0)) + " -> " +
                       std::to_string(p.value("tokens_after", 0)) + " tokens, " +
                       std::to_string(p.value("messages_summarized", 0)) + " messages summarized, " +
                       std::to_string(p.value("outputs_elided", 0)) + " outputs elided]";
    std::fputs((style(kYellow, line) + "\n").c_str(), out_);
  } else if (event.kind == agents::event_kind::error) {
    begin_line();
    std::fputs((style(kRed, "error: " + p.value("message", "")) + "\n").c_str(), out_);
  }
  std::fflush(out_);
}

void TranscriptPrinter::print_summary(const agents::LoopResult & result, const std::string & session_id) {
  begin_line();
  std::string line = summary_text(result);
  if (!session_id.empty()) line += " (session " + session_id + ")";
  std::fputs((style(kDim, line) + "\n").c_str(), out_);
  std::fflush(out_);
}

void JsonLinesPrinter::print(const Json & json) {
  std::string line = json.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
}

void JsonLinesPrinter::on_event(const agents::Event & event) { print(agents::event_to_json(event)); }

void JsonLinesPrinter::on_output(const agents::OutputDelta & delta) {
  print(Json{{"kind", delta.kind == agents::OutputDelta::Kind::reasoning ? "reasoning_delta" : "text_delta"},
             {"text", delta.text}});
}

void JsonLinesPrinter::print_summary(const agents::LoopResult & r, const std::string & session_id) {
  print(Json{{"kind", "summary"}, {"reason", agents::stop_reason_name(r.reason)}, {"detail", r.detail},
             {"answer", r.answer}, {"turns", r.turns}, {"tokens_in", r.usage.prefilled},
             {"tokens_out", r.usage.generated}, {"tokens_reused", r.usage.reused}, {"seconds", r.seconds},
             {"compactions", r.compactions}, {"session", session_id}});
}

}  // namespace m1::cli
