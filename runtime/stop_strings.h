// Stop strings over streamed text: decoded text arrives in deltas that need not line up with a
// stop string, so text that could still become the start of one is held back until it either
// completes the stop string (generation stops; the stop string and anything after it are never
// shown) or turns out to be ordinary text (it is released).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace m1 {

class StopStringMatcher {
public:
  explicit StopStringMatcher(std::vector<std::string> stop_strings);  // empty strings are ignored

  struct Output {
    std::string text;     // safe to show now
    bool stopped = false; // a stop string completed; `text` ends just before it
    std::string matched;  // which stop string, when stopped
  };

  // Adds the next decoded text. After a stop, further calls return nothing.
  Output feed(std::string_view delta);

  // At the end of generation without a stop: the text still held back.
  std::string flush();

  const std::vector<std::string> & stop_strings() const { return stop_strings_; }

private:
  size_t held_back_length() const;

  std::vector<std::string> stop_strings_;
  std::string pending_;  // held back: a suffix that is a proper prefix of some stop string
  bool stopped_ = false;
};

}  // namespace m1
