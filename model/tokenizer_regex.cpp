// PCRE2 wrapper for the tokenizer's split patterns (see tokenizer_regex.h).
#include "model/tokenizer_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "model/unicode_utf8.h"

namespace m1 {

struct TokenizerRegex::Code {
  pcre2_code * code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Unicode White_Space, Oniguruma's \s for UTF-8 (PCRE2's \s with UCP differs: it omits U+0085
// and includes U+180E).
constexpr const char * kWhiteSpace =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{"
    "3000}";

}  // namespace

std::string oniguruma_compatible_pattern(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char next = pattern[++i];
      if (next == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (next == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

Expected<TokenizerRegex> TokenizerRegex::compile(std::string_view pattern) {
  std::string translated = oniguruma_compatible_pattern(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code * code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                    PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    return Status::error("regex \"" + std::string(pattern) + "\": " + reinterpret_cast<char *>(message) +
                         " at offset " + std::to_string(offset));
  }
  auto owned = std::make_shared<Code>();
  owned->code = code;
  owned->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return TokenizerRegex(std::move(owned));
}

namespace {

// One match-data block per thread, reused by every search: allocating one per call showed in
// profiles when a pre-tokenizer searches each of millions of words. Only the whole match is read,
// so a small ovector fits every pattern (PCRE2 fills what fits).
struct ThreadMatchData {
  pcre2_match_data * data = pcre2_match_data_create(8, nullptr);
  ~ThreadMatchData() { pcre2_match_data_free(data); }
};

}  // namespace

void TokenizerRegex::find_each(std::string_view text,
                               const std::function<void(size_t, size_t)> & on_match) const {
  thread_local ThreadMatchData match;
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos <= text.size()) {
    // The text was validated once by the caller; PCRE2 need not check it again at every call.
    int rc =
        code_->jit
            ? pcre2_jit_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match.data, nullptr)
            : pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match.data, nullptr);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH, or a resource limit: no further matches
    PCRE2_SIZE * ovector = pcre2_get_ovector_pointer(match.data);
    size_t begin = ovector[0], end = ovector[1];
    on_match(begin, end);
    if (end > begin) {
      pos = end;
    } else if (end < text.size()) {
      size_t n = utf8::sequence_length(text, end);
      pos = end + (n == 0 ? 1 : n);
    } else {
      break;
    }
  }
}

std::vector<std::pair<size_t, size_t>> TokenizerRegex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  find_each(text, [&matches](size_t begin, size_t end) { matches.emplace_back(begin, end); });
  return matches;
}

}  // namespace m1
