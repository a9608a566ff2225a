#include "runtime/stop_strings.h"

#include <algorithm>

namespace m1 {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings) {
  for (std::string & s : stop_strings)
    if (!s.empty()) stop_strings_.push_back(std::move(s));
}

StopStringMatcher::Output StopStringMatcher::feed(std::string_view delta) {
  Output out;
  if (stopped_) return out;
  pending_.append(delta);
  // The earliest occurrence wins; at one position, the longest stop string (it contains the
  // shorter ones' text, so either way nothing after the position is shown).
  size_t first = std::string::npos;
  const std::string * match = nullptr;
  for (const std::string & stop : stop_strings_) {
    const size_t at = pending_.find(stop);
    if (at == std::string::npos) continue;
    if (at < first || (at == first && stop.size() > match->size())) {
      first = at;
      match = &stop;
    }
  }
  if (match != nullptr) {
    out.text = pending_.substr(0, first);
    out.stopped = true;
    out.matched = *match;
    stopped_ = true;
    pending_.clear();
    return out;
  }
  const size_t keep = held_back_length();
  out.text = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StopStringMatcher::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

// The longest suffix of pending_ that is a proper prefix of a stop string. Such a suffix starts
// where a stop string starts, so it never splits a UTF-8 character of valid text.
size_t StopStringMatcher::held_back_length() const {
  size_t longest = 0;
  for (const std::string & stop : stop_strings_) {
    const size_t max_len = std::min(pending_.size(), stop.size() - 1);
    for (size_t len = max_len; len > longest; --len)
      if (std::string_view(pending_).substr(pending_.size() - len) == std::string_view(stop).substr(0, len)) {
        longest = len;
        break;
      }
  }
  return longest;
}

}  // namespace m1
