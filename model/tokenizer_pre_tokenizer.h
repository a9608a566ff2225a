// The pre-tokenizer stage of an HF tokenizer.json: Split (regex or literal pattern, the five
// delimiter behaviors, invert), ByteLevel (optional prefix space, optional GPT-2 split regex,
// bytes -> characters) and Sequence. Its output words are what the BPE model encodes one by one.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/tokenizer_regex.h"

namespace m1 {

// How Split treats the pattern's matches (HF SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Cuts [0, size) at the given matches and groups the parts as `behavior` says; returns the
// non-empty byte ranges in order. Matches are sorted, non-overlapping byte ranges.
std::vector<std::pair<size_t, size_t>> split_ranges(size_t size,
                                                    const std::vector<std::pair<size_t, size_t>> & matches,
                                                    SplitBehavior behavior, bool invert);

class TokenizerPreTokenizer {
 public:
  // `spec` is the "pre_tokenizer" value of tokenizer.json (null = the whole segment is one word).
  static Expected<TokenizerPreTokenizer> from_json(const nlohmann::json & spec);
  // GPT-2's configuration: ByteLevel with its regex, no prefix space (the vocab.json + merges.txt
  // form carries no pre-tokenizer of its own).
  static TokenizerPreTokenizer gpt2(bool add_prefix_space);

  // Hands each word of one normalized segment of text to `on_word`, in order. Words are made
  // and consumed one at a time: no list of the words of a long text is built.
  using WordSink = std::function<void(std::string_view)>;
  void split(std::string_view text, const WordSink & on_word) const;

 private:
  struct Step {
    enum class Kind { split, byte_level } kind;
    std::optional<TokenizerRegex> regex;  // split (regex pattern), byte_level (GPT-2 regex if used)
    std::string literal;                  // split with a string pattern
    SplitBehavior behavior = SplitBehavior::isolated;
    bool invert = false;
    bool add_prefix_space = false;
  };
  static Status add_steps(const nlohmann::json & spec, std::vector<Step> & steps);
  void run(size_t step_index, std::string_view piece, const WordSink & on_word) const;
  std::vector<Step> steps_;
};

}  // namespace m1
