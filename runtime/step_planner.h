// Decides what one engine step computes: continuous batching of the decode steps of every
// generating session, plus chunks of pending prefills, under a per-step token budget.
//
// Policy: decode tokens first (one per generating session: they are what users wait on, and
// each is cheap), then the rest of the budget split evenly between the sessions with prefill
// work, so one long prefill is cut into chunks and never stalls the others. When there are more
// candidates than room, the starting point rotates every step, so nobody starves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace m1 {

struct StepBudget {
  size_t max_tokens = 512;     // tokens computed per step, over all sequences
  size_t max_sequences = 64;   // sequences per step
};

struct PendingWork {
  std::uint64_t session = 0;
  size_t n_tokens = 0;   // tokens waiting to be computed
  bool decode = false;   // a generating session's next token
};

struct StepSlice {
  std::uint64_t session = 0;
  size_t n_tokens = 0;
};

class StepPlanner {
public:
  explicit StepPlanner(StepBudget budget);

  // `work` in a stable order (e.g. by session id). Returns decode slices first, then prefill
  // chunks; sum of n_tokens <= max_tokens, at most max_sequences slices, each slice > 0 tokens.
  std::vector<StepSlice> plan(std::span<const PendingWork> work);

  const StepBudget & budget() const { return budget_; }

private:
  StepBudget budget_;
  size_t rotation_ = 0;  // advances every step: who goes first when not everyone fits
};

}  // namespace m1
