// The normalizer stage of an HF tokenizer.json: NFC, NFD, NFKC, NFKD, Replace (string or regex
// pattern), Prepend, Strip, and Sequence of those. Others are reported as unsupported at load time.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/tokenizer_regex.h"
#include "model/unicode_normalize.h"

namespace m1 {

class TokenizerNormalizer {
 public:
  // `spec` is the "normalizer" value of tokenizer.json (null = no normalizer).
  static Expected<TokenizerNormalizer> from_json(const nlohmann::json & spec);

  bool empty() const { return steps_.empty(); }
  std::string apply(std::string text) const;

 private:
  struct Step {
    enum class Kind { unicode, replace, prepend, strip } kind;
    NormalForm form = NormalForm::nfc;
    std::string pattern;                  // replace: literal pattern (when regex is empty)
    std::optional<TokenizerRegex> regex;  // replace: regex pattern
    std::string content;                  // replace: replacement; prepend: prefix
    bool strip_left = false, strip_right = false;
  };
  static Status add_steps(const nlohmann::json & spec, std::vector<Step> & steps);
  std::vector<Step> steps_;
};

}  // namespace m1
