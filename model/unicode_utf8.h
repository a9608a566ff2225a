// UTF-8 decoding and encoding, and the replacement of invalid sequences with U+FFFD the way
// Python's errors="replace" and Rust's String::from_utf8_lossy do it (one U+FFFD per maximal
// subpart of an ill-formed sequence, Unicode 15 section 3.9 "U+FFFD Substitution of Maximal
// Subparts"). The tokenizer relies on that rule matching HF tokenizers byte for byte.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace m1::utf8 {

// Length of the well-formed UTF-8 sequence at text[pos], or 0 when text[pos] starts an
// ill-formed or truncated one.
size_t sequence_length(std::string_view text, size_t pos);

// Length of the maximal subpart (1..3 bytes) at text[pos] that is a prefix of some well-formed
// sequence, for a position where sequence_length() is 0. Always >= 1.
size_t maximal_subpart_length(std::string_view text, size_t pos);

// Decodes the well-formed sequence of `length` bytes at text[pos].
char32_t decode(std::string_view text, size_t pos, size_t length);

// Appends the UTF-8 encoding of a code point (<= 0x10FFFF, not a surrogate).
void append(std::string & out, char32_t code_point);

bool is_valid(std::string_view text);

// `text` with each maximal ill-formed subpart replaced by U+FFFD.
std::string replace_invalid(std::string_view text);

// Number of bytes at the end of `text` that are an incomplete (but so far well-formed) sequence:
// what a stream must hold back until more bytes arrive. 0 when the text ends on a boundary or on
// an ill-formed byte (which will never become valid).
size_t incomplete_tail_length(std::string_view text);

// Unicode White_Space (what Rust's char::is_whitespace tests, which HF tokenizers uses for
// stripping).
bool is_white_space(char32_t code_point);

// Bytes of White_Space characters at the start / end of well-formed `text`.
size_t leading_whitespace_length(std::string_view text);
size_t trailing_whitespace_length(std::string_view text);

}  // namespace m1::utf8
