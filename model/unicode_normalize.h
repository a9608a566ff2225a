// Unicode normalization forms NFC, NFD, NFKC and NFKD (UAX #15), as the tokenizer's normalizers
// need them. Data: unicode_tables.cpp (Unicode version in unicode_data::kUnicodeVersion).
#pragma once

#include <string>
#include <string_view>

namespace m1 {

enum class NormalForm { nfc, nfd, nfkc, nfkd };

// Normalizes well-formed UTF-8 (callers replace ill-formed bytes first; any left are copied).
std::string normalize(std::string_view utf8, NormalForm form);

}  // namespace m1
