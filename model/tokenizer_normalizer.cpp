// The tokenizer's normalizer stage (see tokenizer_normalizer.h).
#include "model/tokenizer_normalizer.h"

#include "model/unicode_utf8.h"

namespace m1 {

namespace {

std::string replace_literal(const std::string & text, const std::string & pattern,
                            const std::string & content) {
  if (pattern.empty()) return text;
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = text.find(pattern, pos)) != std::string::npos; pos = hit + pattern.size()) {
    out.append(text, pos, hit - pos);
    out += content;
  }
  out.append(text, pos);
  return out;
}

std::string replace_regex(const std::string & text, const TokenizerRegex & regex,
                          const std::string & content) {
  std::string out;
  size_t pos = 0;
  for (auto [begin, end] : regex.find_all(text)) {
    out.append(text, pos, begin - pos);
    out += content;
    pos = end;
  }
  out.append(text, pos);
  return out;
}

}  // namespace

Status TokenizerNormalizer::add_steps(const nlohmann::json & spec, std::vector<Step> & steps) {
  if (spec.is_null()) return {};
  std::string type = spec.value("type", "");
  if (type == "Sequence") {
    for (const nlohmann::json & inner : spec.value("normalizers", nlohmann::json::array()))
      M1_RETURN_IF_ERROR(add_steps(inner, steps));
    return {};
  }
  Step step{};
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    step.kind = Step::Kind::unicode;
    step.form = type == "NFC"    ? NormalForm::nfc
                : type == "NFD"  ? NormalForm::nfd
                : type == "NFKC" ? NormalForm::nfkc
                                 : NormalForm::nfkd;
  } else if (type == "Replace") {
    step.kind = Step::Kind::replace;
    step.content = spec.value("content", "");
    const nlohmann::json & pattern = spec.at("pattern");
    if (pattern.contains("Regex")) {
      Expected<TokenizerRegex> regex = TokenizerRegex::compile(pattern["Regex"].get<std::string>());
      if (!regex) return regex.status().with_context("normalizer Replace");
      step.regex = std::move(*regex);
    } else {
      step.pattern = pattern.value("String", "");
    }
  } else if (type == "Prepend") {
    step.kind = Step::Kind::prepend;
    step.content = spec.value("prepend", "");
  } else if (type == "Strip") {
    step.kind = Step::Kind::strip;
    step.strip_left = spec.value("strip_left", false);
    step.strip_right = spec.value("strip_right", false);
  } else {
    return Status::error("normalizer \"" + type +
                         "\" is not supported (supported: NFC, NFD, NFKC, NFKD, "
                         "Replace, Prepend, Strip, Sequence)");
  }
  steps.push_back(std::move(step));
  return {};
}

Expected<TokenizerNormalizer> TokenizerNormalizer::from_json(const nlohmann::json & spec) {
  TokenizerNormalizer normalizer;
  M1_RETURN_IF_ERROR(add_steps(spec, normalizer.steps_));
  return normalizer;
}

std::string TokenizerNormalizer::apply(std::string text) const {
  for (const Step & step : steps_) {
    switch (step.kind) {
      case Step::Kind::unicode:
        text = normalize(text, step.form);
        break;
      case Step::Kind::replace:
        text = step.regex ? replace_regex(text, *step.regex, step.content)
                          : replace_literal(text, step.pattern, step.content);
        break;
      case Step::Kind::prepend:
        if (!text.empty()) text = step.content + text;
        break;
      case Step::Kind::strip: {
        size_t begin = step.strip_left ? utf8::leading_whitespace_length(text) : 0;
        size_t end = step.strip_right ? text.size() - utf8::trailing_whitespace_length(text) : text.size();
        text = end > begin ? text.substr(begin, end - begin) : std::string();
        break;
      }
    }
  }
  return text;
}

}  // namespace m1
