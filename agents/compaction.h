// Context management for long sessions. When the prompt nears the model's context limit, the
// history is rewritten to fit a target size while keeping what the model must not lose:
// - system messages (system prompt, project instructions) and every user message, verbatim;
// - the most recent turns in full;
// - older turns as one summary message, model-written when the model can, otherwise structural
//   (which tools ran, on what, with what outcome);
// - old tool outputs are elided first: if that alone fits, no turn is summarized.
// The caller records the result as a "compaction" event and the model restarts from it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agents/conversation.h"
#include "agents/model_backend.h"

namespace m1::agents {

struct CompactionOptions {
  double trigger_fraction = 0.75;  // compact when the next prompt exceeds this share of the context
  double target_fraction = 0.40;   // ... down to at most this share
  size_t recent_messages = 6;      // non-system messages always kept in full (at least 2)
  size_t elided_output_bytes = 160;  // of an elided tool output, the head kept for orientation
  size_t summary_bytes = 4096;     // a structural summary keeps its latest lines within this size
};

struct CompactionResult {
  std::vector<Message> messages;  // the new history
  std::string summary;            // empty when eliding outputs sufficed
  bool model_summary = false;     // written by the model
  size_t n_outputs_elided = 0;
  size_t n_messages_summarized = 0;
  int64_t tokens_before = 0;
  int64_t tokens_after = 0;
};

// Rewrites `conversation`'s history to at most `target_tokens` (measured with the model's
// count_tokens over the rendered prompt) when possible; otherwise as small as the kept parts
// allow (tokens_after says how big).
Expected<CompactionResult> compact(const Conversation & conversation, ModelBackend & model,
                                   int64_t target_tokens, const CompactionOptions & options);

// The structural summary of `messages` (older turns): one line per tool call or answer.
std::string structural_summary(const std::vector<Message> & messages, size_t max_bytes);

Json compaction_to_json(const CompactionResult & result);

}  // namespace m1::agents
