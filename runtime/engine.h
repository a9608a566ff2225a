// The public engine API (DESIGN.md, "Key interfaces"): open a model directory, keep many
// sessions whose memories live between calls, prefill only what is new (the state cache finds
// the longest snapshot that is a prefix of a session's tokens), generate with streaming
// callbacks, fork, save / load, cancel, and report counters.
//
// Thread-safety: every method may be called from any thread. One engine thread runs the model:
// it batches the decode steps of all generating sessions and chunks of pending prefills under a
// per-step token budget (StepPlanner). A session runs one call at a time; a second call on a busy
// session fails with a message saying so. Stream callbacks run on the calling thread of generate.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/sampling.h"
#include "runtime/sequence_model.h"
#include "runtime/snapshot_store.h"
#include "runtime/step_planner.h"
#include "runtime/token.h"

namespace m1 {

class Tokenizer;
class EngineText;

using SessionId = std::uint64_t;

struct EngineOptions {
  std::string model_dir;
  std::vector<int> devices;  // empty = CPU; one CUDA device index = the GPU engine (one GPU for now)
  int threads = 0;           // CPU threads for the model; 0 = all hardware threads
  bool state_cache = true;   // false: no snapshots (every new session prefills everything)
  TierBudgets cache_budgets; // bytes per tier: device (live states), host RAM, disk
  std::string state_dir;     // disk tier and its SQLite index; empty = no disk tier
  StepBudget step_budget;    // tokens and sequences per engine step
  // GPU engine only: lightning state slots (sessions on the device and device-tier snapshots),
  // K/V capacity in tokens over all of them (pages shared between forks count once), and the
  // slots a fork leaves free for sessions (a fork beyond them waits in host memory).
  int gpu_sequences = 32;
  int64_t gpu_cached_tokens = 65536;
  int gpu_reserved_slots = 8;
  // Sample next tokens on the device (only token ids and logprobs come back) where the model can;
  // off: every generated token's logits row is copied to the host and sampled there.
  bool device_sampling = true;
};

struct GenerateRequest {
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;    // stop strings (never shown; their tokens stay in the session)
  std::vector<Token> stop_tokens;   // extra ids that end generation, besides eos
  bool stop_at_eos = true;
  int top_logprobs = 0;             // alternatives reported per token
  int thinking_budget = -1;         // reasoning tokens before the runtime closes it; < 0 = off
  bool starts_in_reasoning = false; // the prompt already opened <think>
};

// One streamed event: a generated token, or (token == kNoToken) the last held-back text when
// generation ends without a stop string.
struct TokenEvent {
  static constexpr Token kNoToken = -1;
  Token token = kNoToken;
  std::string text;           // visible text released by this token (stop strings held back)
  float logprob = 0.0f;       // log p(token) under the model, fp32 LM head, masked ids excluded
  std::vector<TokenChoice> top;
  bool forced = false;        // emitted by the thinking budget, not sampled
};
using StreamCallback = std::function<void(const TokenEvent &)>;

enum class FinishReason { eos, stop_token, stop_string, max_tokens, cancelled };
const char * to_string(FinishReason reason);

struct GenerateResult {
  FinishReason finish = FinishReason::max_tokens;
  std::vector<Token> tokens;  // every emitted token (all of them are now in the session)
  std::string text;           // the visible text (all events' text)
  std::string stop_string;    // which one, for FinishReason::stop_string
};

struct EngineStats {
  std::uint64_t tokens_computed = 0;   // every token run through the model
  std::uint64_t tokens_prefilled = 0;  // of those, tokens given to append / generate prompts
  std::uint64_t tokens_reused = 0;     // tokens a session took from a snapshot instead
  std::uint64_t tokens_generated = 0;  // sampled or forced tokens
  std::uint64_t cache_hits = 0, cache_misses = 0;
  std::uint64_t steps = 0;             // engine steps (batched forwards)
  std::uint64_t max_step_sequences = 0;  // most sequences one step has batched
  TierBytes cache_bytes;               // snapshot bytes per tier
  size_t snapshots[kNumTiers] = {0, 0, 0};
  size_t sessions = 0;
};

struct SessionInfo {
  size_t n_tokens = 0;    // tokens in the session
  size_t n_computed = 0;  // of those, folded into its memory (the last one waits for the next call)
  size_t state_bytes = 0;
};

class Engine {
public:
  // Opens the model directory (config, weights, tokenizer when present).
  static Expected<std::unique_ptr<Engine>> open(const EngineOptions & options);
  // An engine over any SequenceModel; text support (tokenizer) optional.
  static Expected<std::unique_ptr<Engine>> open(const EngineOptions & options,
                                                std::unique_ptr<SequenceModel> model,
                                                std::unique_ptr<EngineText> text);
  // Ends the engine thread (calls still queued fail) and moves snapshots to disk when there is
  // a state_dir. No call may be running on another thread.
  ~Engine();

  size_t vocab_size() const;
  const EngineText * text() const;      // null when the model directory has no tokenizer
  const Tokenizer * tokenizer() const;  // the same, as the model layer's Tokenizer
  const TokenMask & generable_ids() const;  // ids generation may produce (the tokenizer's)

  SessionId create_session();
  Expected<SessionId> fork(SessionId source);
  Status close_session(SessionId session);
  Expected<SessionInfo> session_info(SessionId session) const;
  Expected<std::vector<Token>> session_tokens(SessionId session) const;

  // Adds tokens to the session and computes them (all but the last, which waits for the next
  // call: generation needs its logits). Starts from the longest cached snapshot when that is
  // further than the session's own memory.
  Status append(SessionId session, std::span<const Token> tokens);
  Expected<GenerateResult> generate(SessionId session, const GenerateRequest & request,
                                    const StreamCallback & on_token = {});

  Status save(SessionId session, const std::string & path);
  Expected<SessionId> load(const std::string & path);

  // Ends the session's running call at its next step (generate: FinishReason::cancelled).
  void cancel(SessionId session);

  EngineStats stats() const;

private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace m1
