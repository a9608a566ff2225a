// The tokenizer's decoder stage (see tokenizer_decoder.h); each step mirrors the HF decoder of the
// same name, step by step over the list of token strings.
#include "model/tokenizer_decoder.h"

#include "model/tokenizer_byte_level.h"
#include "model/unicode_utf8.h"

namespace m1 {

namespace {

// "<0xAB>" -> 0xAB, or -1.
int byte_token_value(const std::string & token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return -1;
  int value = 0;
  for (char c : token.substr(3, 2)) {
    int digit = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

void byte_level_step(std::vector<std::string> & tokens, bool raw) {
  std::string bytes;
  for (const std::string & token : tokens) {
    size_t before = bytes.size();
    if (!byte_level::append_bytes(bytes, token)) {  // not all characters map: the token as it is
      bytes.resize(before);
      bytes += token;
    }
  }
  tokens.assign(1, raw ? bytes : utf8::replace_invalid(bytes));
}

void byte_fallback_step(std::vector<std::string> & tokens, bool raw) {
  std::vector<std::string> out;
  std::string pending;
  auto flush = [&] {
    if (pending.empty()) return;
    if (raw || utf8::is_valid(pending)) {
      out.push_back(pending);
    } else {
      for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");  // one U+FFFD per byte
    }
    pending.clear();
  };
  for (std::string & token : tokens) {
    int byte = byte_token_value(token);
    if (byte >= 0) {
      pending += char(byte);
      continue;
    }
    flush();
    out.push_back(std::move(token));
  }
  flush();
  tokens = std::move(out);
}

// Strips up to `start` leading and `stop` trailing copies of the character `c`.
std::string strip_chars(const std::string & token, const std::string & c, size_t start, size_t stop) {
  size_t begin = 0, end = token.size();
  for (size_t i = 0; i < start && token.compare(begin, c.size(), c) == 0 && begin + c.size() <= end; ++i)
    begin += c.size();
  for (size_t i = 0; i < stop && end >= begin + c.size() && token.compare(end - c.size(), c.size(), c) == 0;
       ++i)
    end -= c.size();
  return token.substr(begin, end - begin);
}

std::string replace_all(const std::string & text, const std::string & pattern, const std::string & content) {
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

}  // namespace

Status TokenizerDecoder::add_steps(const nlohmann::json & spec, std::vector<Step> & steps) {
  if (spec.is_null()) return {};
  std::string type = spec.value("type", "");
  if (type == "Sequence") {
    for (const nlohmann::json & inner : spec.value("decoders", nlohmann::json::array()))
      M1_RETURN_IF_ERROR(add_steps(inner, steps));
    return {};
  }
  Step step{};
  if (type == "ByteLevel") {
    step.kind = Step::Kind::byte_level;
  } else if (type == "ByteFallback") {
    step.kind = Step::Kind::byte_fallback;
  } else if (type == "Fuse") {
    step.kind = Step::Kind::fuse;
  } else if (type == "Replace" && spec.contains("pattern") && spec["pattern"].contains("String")) {
    step.kind = Step::Kind::replace;
    step.pattern = spec["pattern"]["String"].get<std::string>();
    step.content = spec.value("content", "");
  } else if (type == "Strip") {
    step.kind = Step::Kind::strip;
    step.strip_char = spec.value("content", " ");
    step.strip_start = spec.value("start", size_t(0));
    step.strip_stop = spec.value("stop", size_t(0));
  } else {
    return Status::error("decoder \"" + type +
                         "\" is not supported (supported: ByteLevel, ByteFallback, Fuse, "
                         "Replace with a string pattern, Strip, Sequence)");
  }
  steps.push_back(std::move(step));
  return {};
}

Expected<TokenizerDecoder> TokenizerDecoder::from_json(const nlohmann::json & spec) {
  TokenizerDecoder decoder;
  M1_RETURN_IF_ERROR(add_steps(spec, decoder.steps_));
  return decoder;
}

TokenizerDecoder TokenizerDecoder::byte_level() {
  TokenizerDecoder decoder;
  decoder.steps_.push_back(Step{Step::Kind::byte_level, "", "", "", 0, 0});
  return decoder;
}

void TokenizerDecoder::run(const Step & step, std::vector<std::string> & tokens, bool raw, bool first) {
  switch (step.kind) {
    case Step::Kind::byte_level:
      byte_level_step(tokens, raw);
      break;
    case Step::Kind::byte_fallback:
      byte_fallback_step(tokens, raw);
      break;
    case Step::Kind::fuse: {
      std::string joined;
      for (const std::string & token : tokens) joined += token;
      tokens.assign(1, std::move(joined));
      break;
    }
    case Step::Kind::replace:
      for (std::string & token : tokens) token = replace_all(token, step.pattern, step.content);
      break;
    case Step::Kind::strip:
      for (std::string & token : tokens)
        token = strip_chars(token, step.strip_char, first ? step.strip_start : 0, raw ? 0 : step.strip_stop);
      break;
  }
}

std::string TokenizerDecoder::decode(std::vector<std::string> tokens) const {
  if (steps_.empty()) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  for (const Step & step : steps_) run(step, tokens, false, true);
  std::string text;
  for (const std::string & token : tokens) text += token;
  return text;
}

std::string TokenizerDecoder::token_bytes(const std::string & token, bool first) const {
  std::vector<std::string> tokens{token};
  bool fused = false;  // after a Fuse (or ByteLevel, which also joins) the stream is one token
  for (const Step & step : steps_) {
    run(step, tokens, true, first || !fused);
    fused = fused || step.kind == Step::Kind::fuse || step.kind == Step::Kind::byte_level;
  }
  std::string bytes;
  for (const std::string & t : tokens) bytes += t;
  return bytes;
}

}  // namespace m1
