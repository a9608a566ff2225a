// Unicode normalization (UAX #15): full decomposition, canonical ordering, canonical composition.
// Hangul syllables are decomposed and composed algorithmically (Unicode section 3.12).
#include "model/unicode_normalize.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "model/unicode_tables.h"
#include "model/unicode_utf8.h"

namespace m1 {

namespace {

namespace data = unicode_data;

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;  // no combining mark below U+0300
  const data::CombiningRange * end = data::kCombiningClasses + data::kNCombiningClasses;
  const data::CombiningRange * it =
      std::upper_bound(data::kCombiningClasses, end, cp,
                       [](char32_t c, const data::CombiningRange & r) { return c < r.first; });
  if (it == data::kCombiningClasses) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

std::span<const char32_t> find_decomposition(const data::Decomposition * table, size_t n,
                                             const char32_t * pool, char32_t cp) {
  const data::Decomposition * end = table + n;
  const data::Decomposition * it = std::lower_bound(
      table, end, cp, [](const data::Decomposition & d, char32_t c) { return d.code_point < c; });
  if (it == end || it->code_point != cp) return {};
  return {pool + it->offset, it->length};
}

void decompose_one(char32_t cp, bool compat, std::vector<char32_t> & out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp < 0xA0) {  // no decomposition below U+00A0
    out.push_back(cp);
    return;
  }
  std::span<const char32_t> d;
  if (compat) d = find_decomposition(data::kCompat, data::kNCompat, data::kCompatPool, cp);
  if (d.empty()) d = find_decomposition(data::kCanonical, data::kNCanonical, data::kCanonicalPool, cp);
  if (d.empty()) {
    out.push_back(cp);
  } else {
    out.insert(out.end(), d.begin(), d.end());
  }
}

// Stable sort of every run of non-starters by combining class (canonical ordering).
void reorder(std::vector<char32_t> & cps) {
  size_t i = 0;
  while (i < cps.size()) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
    if (j - i > 1)
      std::stable_sort(cps.begin() + i, cps.begin() + j,
                       [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount)
    return first + (second - kTBase);
  uint64_t key = (uint64_t(first) << 21) | second;
  const data::Composition * end = data::kCompositions + data::kNCompositions;
  const data::Composition * it = std::lower_bound(
      data::kCompositions, end, key, [](const data::Composition & c, uint64_t k) { return c.pair < k; });
  return (it != end && it->pair == key) ? it->composite : 0;
}

// Canonical composition: a character combines with the last starter unless a character between
// them has a combining class of 0 or >= its own (it is "blocked").
void compose(std::vector<char32_t> & cps) {
  if (cps.empty()) return;
  size_t starter = 0;
  bool have_starter = combining_class(cps[0]) == 0;
  size_t write = 1;
  int last_class = have_starter ? 0 : 256;
  for (size_t read = 1; read < cps.size(); ++read) {
    char32_t cp = cps[read];
    int cls = combining_class(cp);
    bool blocked = write - 1 != starter && (last_class == 0 || last_class >= cls);
    if (have_starter && !blocked) {
      if (char32_t composite = compose_pair(cps[starter], cp)) {
        cps[starter] = composite;
        continue;
      }
    }
    if (cls == 0) {
      starter = write;
      have_starter = true;
    }
    last_class = cls;
    cps[write++] = cp;
  }
  cps.resize(write);
}

// Normalizes one run of text into `out`.
void normalize_run(std::string_view text, bool compat, bool composed, std::string & out,
                   std::vector<char32_t> & cps) {
  cps.clear();
  for (size_t pos = 0; pos < text.size();) {
    size_t n = utf8::sequence_length(text, pos);
    if (n == 0) {  // ill-formed byte: flush what we have and copy it through
      reorder(cps);
      if (composed) compose(cps);
      for (char32_t cp : cps) utf8::append(out, cp);
      cps.clear();
      out += text[pos++];
      continue;
    }
    decompose_one(utf8::decode(text, pos, n), compat, cps);
    pos += n;
  }
  reorder(cps);
  if (composed) compose(cps);
  for (char32_t cp : cps) utf8::append(out, cp);
}

}  // namespace

std::string normalize(std::string_view text, NormalForm form) {
  bool compat = form == NormalForm::nfkc || form == NormalForm::nfkd;
  bool composed = form == NormalForm::nfc || form == NormalForm::nfkc;
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::vector<char32_t> cps;
  // ASCII is invariant under every form, has combining class 0 and is never the second character
  // of a composition, so only the non-ASCII runs (each with the character before it, which may
  // be the starter they compose with) need the full algorithm; the rest is copied.
  size_t pos = 0;
  while (pos < text.size()) {
    size_t ascii_end = pos;
    while (ascii_end < text.size() && uint8_t(text[ascii_end]) < 0x80) ++ascii_end;
    if (ascii_end == text.size()) {
      out.append(text.substr(pos));
      break;
    }
    size_t run_begin = ascii_end > pos ? ascii_end - 1 : pos;
    out.append(text.substr(pos, run_begin - pos));
    size_t run_end = ascii_end;
    while (run_end < text.size() && uint8_t(text[run_end]) >= 0x80) ++run_end;
    normalize_run(text.substr(run_begin, run_end - run_begin), compat, composed, out, cps);
    pos = run_end;
  }
  return out;
}

}  // namespace m1
