// The tokenizer's pre-tokenizer stage (see tokenizer_pre_tokenizer.h). The grouping rules follow
// HF tokenizers' SplitDelimiterBehavior exactly, including its quirk that only the first match of
// a run of adjacent matches merges into its neighbour.
#include "model/tokenizer_pre_tokenizer.h"

#include "model/tokenizer_byte_level.h"

namespace m1 {

namespace {

using Range = std::pair<size_t, size_t>;

// GPT-2's split pattern, used by ByteLevel with use_regex.
constexpr const char * kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

const TokenizerRegex & gpt2_regex() {
  static const TokenizerRegex regex = *TokenizerRegex::compile(kGpt2Pattern);
  return regex;
}

// Every byte of [0, size) as (range, is_match), matches and the gaps between them.
std::vector<std::pair<Range, bool>> tag_ranges(size_t size, const std::vector<Range> & matches, bool invert) {
  std::vector<std::pair<Range, bool>> tagged;
  if (size == 0) return {{{0, 0}, invert}};
  size_t prev = 0;
  for (const Range & m : matches) {
    if (prev != m.first) tagged.push_back({{prev, m.first}, invert});
    tagged.push_back({m, !invert});
    prev = m.second;
  }
  if (prev != size) tagged.push_back({{prev, size}, invert});
  return tagged;
}

std::vector<Range> merge_with_previous(const std::vector<std::pair<Range, bool>> & tagged) {
  std::vector<Range> out;
  bool previous_match = false;
  for (const auto & [range, is_match] : tagged) {
    if (is_match && !previous_match && !out.empty()) {
      out.back().second = range.second;
    } else {
      out.push_back(range);
    }
    previous_match = is_match;
  }
  return out;
}

std::vector<Range> merge_with_next(const std::vector<std::pair<Range, bool>> & tagged) {
  std::vector<Range> out;
  bool previous_match = false;
  for (auto it = tagged.rbegin(); it != tagged.rend(); ++it) {
    const auto & [range, is_match] = *it;
    if (is_match && !previous_match && !out.empty()) {
      out.back().first = range.first;
    } else {
      out.push_back(range);
    }
    previous_match = is_match;
  }
  return {out.rbegin(), out.rend()};
}

std::vector<Range> contiguous(const std::vector<std::pair<Range, bool>> & tagged) {
  std::vector<Range> out;
  bool previous_match = false;
  for (const auto & [range, is_match] : tagged) {
    if (is_match == previous_match && !out.empty()) {
      out.back().second = range.second;
    } else {
      out.push_back(range);
    }
    previous_match = is_match;
  }
  return out;
}

std::vector<Range> literal_matches(std::string_view text, const std::string & literal) {
  std::vector<Range> matches;
  if (literal.empty()) return matches;
  for (size_t pos = 0; (pos = text.find(literal, pos)) != std::string_view::npos; pos += literal.size())
    matches.emplace_back(pos, pos + literal.size());
  return matches;
}

Expected<SplitBehavior> parse_behavior(const std::string & name) {
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  return Status::error("pre_tokenizer Split: unknown behavior \"" + name + "\"");
}

}  // namespace

std::vector<Range> split_ranges(size_t size, const std::vector<Range> & matches, SplitBehavior behavior,
                                bool invert) {
  std::vector<std::pair<Range, bool>> tagged = tag_ranges(size, matches, invert);
  std::vector<Range> grouped;
  switch (behavior) {
    case SplitBehavior::removed:
      for (const auto & [range, is_match] : tagged)
        if (!is_match) grouped.push_back(range);
      break;
    case SplitBehavior::isolated:
      for (const auto & tagged_range : tagged) grouped.push_back(tagged_range.first);
      break;
    case SplitBehavior::merged_with_previous:
      grouped = merge_with_previous(tagged);
      break;
    case SplitBehavior::merged_with_next:
      grouped = merge_with_next(tagged);
      break;
    case SplitBehavior::contiguous:
      grouped = contiguous(tagged);
      break;
  }
  std::erase_if(grouped, [](const Range & r) { return r.first == r.second; });
  return grouped;
}

Status TokenizerPreTokenizer::add_steps(const nlohmann::json & spec, std::vector<Step> & steps) {
  if (spec.is_null()) return {};
  std::string type = spec.value("type", "");
  if (type == "Sequence") {
    for (const nlohmann::json & inner : spec.value("pretokenizers", nlohmann::json::array()))
      M1_RETURN_IF_ERROR(add_steps(inner, steps));
    return {};
  }
  Step step{};
  if (type == "Split") {
    step.kind = Step::Kind::split;
    const nlohmann::json & pattern = spec.at("pattern");
    if (pattern.contains("Regex")) {
      Expected<TokenizerRegex> regex = TokenizerRegex::compile(pattern["Regex"].get<std::string>());
      if (!regex) return regex.status().with_context("pre_tokenizer Split");
      step.regex = std::move(*regex);
    } else {
      step.literal = pattern.value("String", "");
    }
    Expected<SplitBehavior> behavior = parse_behavior(spec.value("behavior", "Isolated"));
    if (!behavior) return behavior.status();
    step.behavior = *behavior;
    step.invert = spec.value("invert", false);
  } else if (type == "ByteLevel") {
    step.kind = Step::Kind::byte_level;
    step.add_prefix_space = spec.value("add_prefix_space", true);
    if (spec.value("use_regex", true)) step.regex = gpt2_regex();
  } else {
    return Status::error("pre_tokenizer \"" + type +
                         "\" is not supported (supported: Split, ByteLevel, Sequence)");
  }
  steps.push_back(std::move(step));
  return {};
}

Expected<TokenizerPreTokenizer> TokenizerPreTokenizer::from_json(const nlohmann::json & spec) {
  TokenizerPreTokenizer pre;
  M1_RETURN_IF_ERROR(add_steps(spec, pre.steps_));
  return pre;
}

TokenizerPreTokenizer TokenizerPreTokenizer::gpt2(bool add_prefix_space) {
  TokenizerPreTokenizer pre;
  Step step{};
  step.kind = Step::Kind::byte_level;
  step.add_prefix_space = add_prefix_space;
  step.regex = gpt2_regex();
  pre.steps_.push_back(std::move(step));
  return pre;
}

void TokenizerPreTokenizer::run(size_t step_index, std::string_view piece, const WordSink & on_word) const {
  if (piece.empty()) return;
  if (step_index == steps_.size()) {
    on_word(piece);
    return;
  }
  const Step & step = steps_[step_index];
  auto next = [&](std::string_view sub) { run(step_index + 1, sub, on_word); };
  if (step.kind == Step::Kind::split) {
    if (step.regex && step.behavior == SplitBehavior::isolated && !step.invert) {
      // The common case, streamed: every match and every gap between matches is a word.
      size_t prev = 0;
      step.regex->find_each(piece, [&](size_t begin, size_t end) {
        if (begin > prev) next(piece.substr(prev, begin - prev));
        next(piece.substr(begin, end - begin));
        prev = end;
      });
      if (prev < piece.size()) next(piece.substr(prev));
      return;
    }
    std::vector<Range> matches =
        step.regex ? step.regex->find_all(piece) : literal_matches(piece, step.literal);
    for (auto [begin, end] : split_ranges(piece.size(), matches, step.behavior, step.invert))
      next(piece.substr(begin, end - begin));
    return;
  }
  // ByteLevel: the prefix space goes on every word that does not start with one; each piece of
  // the GPT-2 split (if used) is then spelled with the byte characters.
  std::string prefixed;
  if (step.add_prefix_space && piece[0] != ' ') {
    prefixed = " " + std::string(piece);
    piece = prefixed;
  }
  std::string chars;
  auto emit = [&](std::string_view bytes) {
    chars.clear();
    byte_level::append_chars(chars, bytes);
    next(chars);
  };
  if (!step.regex) {
    emit(piece);
    return;
  }
  size_t prev = 0;
  step.regex->find_each(piece, [&](size_t begin, size_t end) {
    if (begin > prev) emit(piece.substr(prev, begin - prev));
    emit(piece.substr(begin, end - begin));
    prev = end;
  });
  if (prev < piece.size()) emit(piece.substr(prev));
}

void TokenizerPreTokenizer::split(std::string_view text, const WordSink & on_word) const {
  run(0, text, on_word);
}

}  // namespace m1
