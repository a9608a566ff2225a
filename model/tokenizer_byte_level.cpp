// The GPT-2 byte <-> character map (see tokenizer_byte_level.h).
#include "model/tokenizer_byte_level.h"

#include <array>

#include "model/unicode_utf8.h"

namespace m1::byte_level {

namespace {

struct Tables {
  std::array<std::string, 256> chars;
  std::array<int16_t, 512> bytes;  // code point (all below U+0200) -> byte, or -1
  Tables() {
    bytes.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t cp = printable ? char32_t(b) : next++;
      utf8::append(chars[b], cp);
      bytes[cp] = int16_t(b);
    }
  }
};

const Tables & tables() {
  static const Tables instance;
  return instance;
}

}  // namespace

std::string_view char_of(uint8_t byte) { return tables().chars[byte]; }

int byte_of(char32_t cp) { return cp < 512 ? tables().bytes[cp] : -1; }

void append_chars(std::string & out, std::string_view bytes) {
  const Tables & t = tables();
  for (char c : bytes) out += t.chars[uint8_t(c)];
}

bool append_bytes(std::string & out, std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    size_t n = utf8::sequence_length(text, pos);
    if (n == 0) return false;
    int b = byte_of(utf8::decode(text, pos, n));
    if (b < 0) return false;
    out += char(b);
    pos += n;
  }
  return true;
}

}  // namespace m1::byte_level
