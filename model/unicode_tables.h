// The Unicode data tables behind normalization, generated into unicode_tables.cpp by
// unicode_tables.py from Python's unicodedata. Every table is sorted for binary search.
#pragma once

#include <cstddef>
#include <cstdint>

namespace m1::unicode_data {

struct CombiningRange {
  char32_t first, last;
  uint8_t combining_class;  // canonical combining class, never 0 here
};
struct Decomposition {
  char32_t code_point;
  uint32_t offset;  // into the matching *Pool array
  uint32_t length;
};
struct Composition {
  uint64_t pair;  // first << 21 | second
  char32_t composite;
};

extern const char * const kUnicodeVersion;
extern const CombiningRange kCombiningClasses[];
extern const size_t kNCombiningClasses;
extern const Decomposition kCanonical[];
extern const char32_t kCanonicalPool[];
extern const size_t kNCanonical;
extern const Decomposition kCompat[];
extern const char32_t kCompatPool[];
extern const size_t kNCompat;
extern const Composition kCompositions[];
extern const size_t kNCompositions;

}  // namespace m1::unicode_data
