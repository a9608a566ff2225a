#include "agents/compaction.h"

#include "agents/turn_format.h"

namespace m1::agents {

namespace {

std::string shorten(std::string text, size_t max_bytes) {
  for (char & c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
  return text.substr(0, cut) + "...";
}

std::string first_line(const std::string & text) { return text.substr(0, text.find('\n')); }

size_t count_lines(const std::string & text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n + (!text.empty() && text.back() != '\n');
}

std::string outcome_line(const ToolOutcome & r) {
  if (r.cancelled) return "cancelled";
  if (r.is_error) return "error: " + shorten(first_line(r.text), 120);
  return "ok (" + std::to_string(count_lines(r.text)) + " lines)";
}

bool is_turn_message(const Message & m) { return m.role == Role::assistant || m.role == Role::tool; }

// Index (into `messages`) where the recent part starts: the last `keep` non-system messages,
// moved back so it starts at an assistant message (a tool message needs its calls before it).
size_t recent_start(const std::vector<Message> & messages, size_t keep) {
  size_t start = messages.size();
  for (size_t kept = 0; start > 0 && kept < keep; --start)
    if (messages[start - 1].role != Role::system) ++kept;
  while (start > 0 && start < messages.size() && messages[start].role == Role::tool) --start;
  return start;
}

Message elided(const Message & m, size_t keep_bytes) {
  Message out = m;
  for (ToolOutcome & r : out.results) {
    if (r.text.size() <= keep_bytes) continue;
    r.text = r.text.substr(0, keep_bytes) + "\n[output elided by compaction: " + std::to_string(r.text.size()) +
             " bytes in all]";
  }
  return out;
}

struct Plan {
  size_t recent;            // first index of the recent part
  bool summarize;           // older turns -> one summary message (else: elide their outputs)
};

}  // namespace

std::string structural_summary(const std::vector<Message> & messages, size_t max_bytes) {
  std::vector<std::string> lines;
  size_t turn = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message & m = messages[i];
    if (m.role == Role::user && m.summary) {
      lines.push_back("earlier: " + shorten(m.text, 400));
      continue;
    }
    if (m.role != Role::assistant) continue;
    ++turn;
    const Message * results = i + 1 < messages.size() && messages[i + 1].role == Role::tool ? &messages[i + 1] : nullptr;
    for (size_t c = 0; c < m.tool_calls.size(); ++c) {
      std::string line = "turn " + std::to_string(turn) + ": " + m.tool_calls[c].name + " " +
                         shorten(m.tool_calls[c].arguments.dump(), 120);
      if (results && c < results->results.size()) line += " -> " + outcome_line(results->results[c]);
      lines.push_back(line);
    }
    if (results)
      for (size_t r = m.tool_calls.size(); r < results->results.size(); ++r)
        lines.push_back("turn " + std::to_string(turn) + ": malformed call -> " + outcome_line(results->results[r]));
    if (!m.text.empty()) lines.push_back("turn " + std::to_string(turn) + ": said: " + shorten(m.text, 200));
  }
  // Keep the latest lines that fit; say how many earlier ones were dropped.
  std::string body;
  size_t kept = 0;
  for (size_t i = lines.size(); i > 0; --i) {
    if (body.size() + lines[i - 1].size() + 3 > max_bytes) break;
    body = "- " + lines[i - 1] + "\n" + body;
    ++kept;
  }
  std::string head = "[Summary of " + std::to_string(turn) + " earlier turns, written by compaction; tool outputs " +
                     "are not repeated. The user's messages are kept verbatim above.]\n";
  if (kept < lines.size()) head += "- (" + std::to_string(lines.size() - kept) + " earlier entries omitted)\n";
  return head + body;
}

namespace {

std::vector<Message> build(const std::vector<Message> & messages, const Plan & plan, const std::string & summary,
                           const CompactionOptions & options, size_t & n_elided) {
  std::vector<Message> out;
  n_elided = 0;
  for (size_t i = 0; i < plan.recent; ++i) {
    const Message & m = messages[i];
    if (m.role == Role::system || (m.role == Role::user && !m.summary)) out.push_back(m);
    else if (!plan.summarize && is_turn_message(m)) {
      if (m.role == Role::tool) ++n_elided;
      out.push_back(m.role == Role::tool ? elided(m, options.elided_output_bytes) : m);
    } else if (!plan.summarize) {
      out.push_back(m);  // an earlier summary stays while only outputs are elided
    }
  }
  if (plan.summarize) {
    Message s = Message::user_message(summary);
    s.summary = true;
    out.push_back(std::move(s));
  }
  for (size_t i = plan.recent; i < messages.size(); ++i) out.push_back(messages[i]);
  return out;
}

std::string summary_request(const std::string & structural) {
  return "Summarize these earlier turns of an agent session for the agent itself: what was done, what was "
         "learned (files, facts, results), and what is still open. Be brief.\n\n" + structural;
}

}  // namespace

Expected<CompactionResult> compact(const Conversation & conversation, ModelBackend & model, int64_t target_tokens,
                                   const CompactionOptions & options) {
  const std::vector<Message> & messages = conversation.messages();
  auto measure = [&](const std::vector<Message> & candidate) {
    return model.count_tokens(render_prompt(candidate, conversation.tools()));
  };
  CompactionResult result;
  Expected<int64_t> before = measure(messages);
  if (!before.ok()) return before.status();
  result.tokens_before = *before;

  // Try, from least to most loss: elide old outputs; summarize older turns; keep fewer recent
  // messages (down to 2); finally elide the recent outputs too.
  for (size_t keep = std::max<size_t>(options.recent_messages, 2);; keep = keep > 2 ? keep / 2 : 0) {
    size_t recent = recent_start(messages, keep);
    std::vector<Message> older(messages.begin(), messages.begin() + long(recent));
    for (bool summarize : {false, true}) {
      if (summarize && result.summary.empty()) {
        result.summary = structural_summary(older, options.summary_bytes);
        if (model.writes_summaries()) {
          Expected<std::string> written = model.summarize(summary_request(result.summary));
          if (written.ok() && !written->empty()) {
            result.summary = "[Summary of earlier turns, written by the model at compaction. The user's messages "
                             "are kept verbatim above.]\n" + *written;
            result.model_summary = true;
          }
        }
      }
      Plan plan{recent, summarize};
      std::vector<Message> candidate = build(messages, plan, summarize ? result.summary : "", options,
                                             result.n_outputs_elided);
      Expected<int64_t> size = measure(candidate);
      if (!size.ok()) return size.status();
      bool last_resort = keep == 0 && summarize;
      if (*size <= target_tokens || last_resort) {
        if (last_resort && *size > target_tokens) {
          for (Message & m : candidate)
            if (m.role == Role::tool) m = elided(m, options.elided_output_bytes);
          size = measure(candidate);
          if (!size.ok()) return size.status();
        }
        result.n_messages_summarized = 0;
        if (summarize)
          for (size_t i = 0; i < recent; ++i) result.n_messages_summarized += is_turn_message(messages[i]) || messages[i].summary;
        else result.summary.clear(), result.model_summary = false;
        result.messages = std::move(candidate);
        result.tokens_after = *size;
        return result;
      }
    }
    result.summary.clear();  // a smaller recent part summarizes more turns: write it again
    result.model_summary = false;
  }
}

Json compaction_to_json(const CompactionResult & result) {
  Json j;
  j["tokens_before"] = result.tokens_before;
  j["tokens_after"] = result.tokens_after;
  j["outputs_elided"] = result.n_outputs_elided;
  j["messages_summarized"] = result.n_messages_summarized;
  j["model_summary"] = result.model_summary;
  j["summary"] = result.summary;
  Json messages = Json::array();
  for (const Message & m : result.messages) messages.push_back(message_to_json(m));
  j["messages"] = std::move(messages);
  return j;
}

}  // namespace m1::agents
