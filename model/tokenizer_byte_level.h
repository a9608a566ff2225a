// GPT-2's byte <-> character map used by byte-level BPE: every byte gets a printable character
// (printable Latin-1 bytes map to themselves, the others to U+0100 and up, in byte order), so a
// vocabulary of strings can spell any byte sequence.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace m1::byte_level {

// The character for `byte`, as UTF-8 (one or two bytes).
std::string_view char_of(uint8_t byte);

// The byte a character stands for, or -1 when it is not one of the 256 characters.
int byte_of(char32_t code_point);

// Appends the characters of every byte of `bytes`.
void append_chars(std::string & out, std::string_view bytes);

// Maps the characters of `text` back to bytes; false (and `out` untouched past its old size is not
// guaranteed) when some character is not in the map.
bool append_bytes(std::string & out, std::string_view text);

}  // namespace m1::byte_level
