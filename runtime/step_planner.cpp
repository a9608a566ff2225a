#include "runtime/step_planner.h"

#include <algorithm>

namespace m1 {

namespace {

// The items of `all` that pass `keep`, starting at index `rotation` (mod size) and wrapping.
template <typename Keep>
std::vector<const PendingWork *> rotated(std::span<const PendingWork> all, size_t rotation, Keep keep) {
  std::vector<const PendingWork *> picked;
  for (const PendingWork & w : all)
    if (w.n_tokens > 0 && keep(w)) picked.push_back(&w);
  if (!picked.empty())
    std::rotate(picked.begin(), picked.begin() + ptrdiff_t(rotation % picked.size()), picked.end());
  return picked;
}

}  // namespace

StepPlanner::StepPlanner(StepBudget budget) : budget_(budget) {
  budget_.max_tokens = std::max<size_t>(budget_.max_tokens, 1);
  budget_.max_sequences = std::max<size_t>(budget_.max_sequences, 1);
}

std::vector<StepSlice> StepPlanner::plan(std::span<const PendingWork> work) {
  const size_t rotation = rotation_++;
  std::vector<StepSlice> slices;
  size_t tokens_left = budget_.max_tokens;

  for (const PendingWork * w : rotated(work, rotation, [](const PendingWork & x) { return x.decode; })) {
    if (tokens_left == 0 || slices.size() == budget_.max_sequences) break;
    slices.push_back({w->session, 1});
    --tokens_left;
  }

  std::vector<const PendingWork *> prefills =
      rotated(work, rotation, [](const PendingWork & x) { return !x.decode; });
  prefills.resize(std::min(prefills.size(), budget_.max_sequences - slices.size()));
  // Even shares; a prefill that needs less than its share leaves the rest to the ones after it.
  std::vector<size_t> granted(prefills.size(), 0);
  for (bool progress = true; progress && tokens_left > 0;) {
    progress = false;
    size_t n_wanting = 0;
    for (size_t i = 0; i < prefills.size(); ++i) n_wanting += granted[i] < prefills[i]->n_tokens;
    if (n_wanting == 0) break;
    const size_t share = std::max<size_t>(tokens_left / n_wanting, 1);
    for (size_t i = 0; i < prefills.size() && tokens_left > 0; ++i) {
      const size_t more = std::min({share, prefills[i]->n_tokens - granted[i], tokens_left});
      granted[i] += more;
      tokens_left -= more;
      progress = progress || more > 0;
    }
  }
  for (size_t i = 0; i < prefills.size(); ++i)
    if (granted[i] > 0) slices.push_back({prefills[i]->session, granted[i]});
  return slices;
}

}  // namespace m1
