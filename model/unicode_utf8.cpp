// UTF-8 validation, decoding and U+FFFD replacement (see unicode_utf8.h for the rule followed).
#include "model/unicode_utf8.h"

#include <cstdint>

namespace m1::utf8 {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Valid ranges of the second byte given the first (Unicode Table 3-7); later bytes are 80..BF.
bool second_byte_ok(uint8_t first, uint8_t second) {
  switch (first) {
    case 0xE0:
      return second >= 0xA0 && second <= 0xBF;
    case 0xED:
      return second >= 0x80 && second <= 0x9F;
    case 0xF0:
      return second >= 0x90 && second <= 0xBF;
    case 0xF4:
      return second >= 0x80 && second <= 0x8F;
    default:
      return second >= 0x80 && second <= 0xBF;
  }
}

// Expected length from the first byte; 0 for bytes that never start a sequence.
size_t expected_length(uint8_t first) {
  if (first < 0x80) return 1;
  if (first >= 0xC2 && first <= 0xDF) return 2;
  if (first >= 0xE0 && first <= 0xEF) return 3;
  if (first >= 0xF0 && first <= 0xF4) return 4;
  return 0;
}

// How many bytes at pos form a well-formed prefix (possibly complete) of a sequence.
size_t well_formed_prefix(std::string_view text, size_t pos, size_t & expected) {
  uint8_t first = uint8_t(text[pos]);
  expected = expected_length(first);
  if (expected <= 1) return expected;
  size_t n = 1;
  while (n < expected && pos + n < text.size()) {
    uint8_t b = uint8_t(text[pos + n]);
    bool ok = n == 1 ? second_byte_ok(first, b) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    ++n;
  }
  return n;
}

}  // namespace

size_t sequence_length(std::string_view text, size_t pos) {
  size_t expected = 0;
  size_t n = well_formed_prefix(text, pos, expected);
  return (expected != 0 && n == expected) ? n : 0;
}

size_t maximal_subpart_length(std::string_view text, size_t pos) {
  size_t expected = 0;
  size_t n = well_formed_prefix(text, pos, expected);
  return n == 0 ? 1 : n;
}

char32_t decode(std::string_view text, size_t pos, size_t length) {
  auto byte = [&](size_t i) { return char32_t(uint8_t(text[pos + i])); };
  switch (length) {
    case 1:
      return byte(0);
    case 2:
      return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3:
      return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    default:
      return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
  }
}

void append(std::string & out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

bool is_valid(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    if (uint8_t(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t n = sequence_length(text, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

std::string replace_invalid(std::string_view text) {
  if (is_valid(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t pos = 0; pos < text.size();) {
    size_t n = sequence_length(text, pos);
    if (n != 0) {
      out.append(text.substr(pos, n));
      pos += n;
    } else {
      append(out, kReplacement);
      pos += maximal_subpart_length(text, pos);
    }
  }
  return out;
}

size_t incomplete_tail_length(std::string_view text) {
  // A sequence is at most 4 bytes, so only the last 3 bytes can start an incomplete one.
  size_t start = text.size() > 3 ? text.size() - 3 : 0;
  for (size_t pos = start; pos < text.size(); ++pos) {
    size_t expected = 0;
    size_t n = well_formed_prefix(text, pos, expected);
    if (expected > 1 && n == text.size() - pos && n < expected) return n;
  }
  return 0;
}

bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

size_t leading_whitespace_length(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t n = sequence_length(text, pos);
    if (n == 0 || !is_white_space(decode(text, pos, n))) break;
    pos += n;
  }
  return pos;
}

size_t trailing_whitespace_length(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && end - start < 4 && (uint8_t(text[start]) & 0xC0) == 0x80) --start;
    size_t n = sequence_length(text, start);
    if (n != end - start || !is_white_space(decode(text, start, n))) break;
    end = start;
  }
  return text.size() - end;
}

}  // namespace m1::utf8
