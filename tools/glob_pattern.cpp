// A backtracking glob matcher; braces are expanded first into plain alternatives.
#include "tools/glob_pattern.h"

namespace m1::tools {

namespace {

// Expands the first top-level {a,b,...} group (recursively), e.g. "x.{h,cpp}" -> {"x.h", "x.cpp"}.
void expand_braces(const std::string & pattern, std::vector<std::string> & out) {
  size_t open = std::string::npos;
  int depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') { ++i; continue; }
    if (c == '{') {
      if (depth++ == 0) open = i;
    } else if (c == '}' && depth > 0 && --depth == 0) {
      std::vector<std::string> options;
      std::string current;
      int inner = 0;
      for (size_t j = open + 1; j < i; ++j) {
        char d = pattern[j];
        if (d == '\\' && j + 1 < i) { current += d; current += pattern[++j]; continue; }
        if (d == '{') ++inner;
        if (d == '}') --inner;
        if (d == ',' && inner == 0) { options.push_back(current); current.clear(); continue; }
        current += d;
      }
      options.push_back(current);
      std::string before = pattern.substr(0, open), after = pattern.substr(i + 1);
      for (const std::string & option : options) expand_braces(before + option + after, out);
      return;
    }
  }
  out.push_back(pattern);
}

// Matches a [...] class at pattern[0]; sets `length` to the class's length in the pattern.
bool match_class(std::string_view pattern, char c, size_t & length, bool & valid) {
  size_t i = 1;
  bool negate = i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^');
  if (negate) ++i;
  bool matched = false, first = true;
  while (i < pattern.size() && (pattern[i] != ']' || first)) {
    first = false;
    char low = pattern[i];
    if (low == '\\' && i + 1 < pattern.size()) low = pattern[++i];
    char high = low;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      high = pattern[i + 2];
      if (high == '\\' && i + 3 < pattern.size()) high = pattern[++i + 2];
      i += 2;
    }
    if (c >= low && c <= high) matched = true;
    ++i;
  }
  valid = i < pattern.size();  // found the closing ']'
  length = i + 1;
  return matched != negate;
}

bool match_here(std::string_view p, std::string_view s) {
  while (!p.empty()) {
    char c = p[0];
    if (c == '*') {
      bool double_star = p.size() > 1 && p[1] == '*';
      size_t stars = 0;
      while (stars < p.size() && p[stars] == '*') ++stars;
      std::string_view rest = p.substr(stars);
      if (double_star && !rest.empty() && rest[0] == '/') {
        // "**/": zero folders, or skip through any '/' boundary.
        std::string_view after = rest.substr(1);
        if (match_here(after, s)) return true;
        for (size_t i = 0; i < s.size(); ++i)
          if (s[i] == '/' && match_here(after, s.substr(i + 1))) return true;
        return false;
      }
      for (size_t i = 0; i <= s.size(); ++i) {
        if (match_here(rest, s.substr(i))) return true;
        if (i < s.size() && s[i] == '/' && !double_star) return false;
      }
      return false;
    }
    if (s.empty()) return false;
    if (c == '?') {
      if (s[0] == '/') return false;
      p.remove_prefix(1), s.remove_prefix(1);
      continue;
    }
    if (c == '[') {
      size_t length = 0;
      bool valid = false;
      bool matched = match_class(p, s[0], length, valid);
      if (valid) {
        if (!matched || s[0] == '/') return false;
        p.remove_prefix(length), s.remove_prefix(1);
        continue;
      }
      // An unclosed '[' is a literal.
    }
    if (c == '\\' && p.size() > 1) p.remove_prefix(1), c = p[0];
    if (c != s[0]) return false;
    p.remove_prefix(1), s.remove_prefix(1);
  }
  return s.empty();
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  std::vector<std::string> alternatives;
  expand_braces(std::string(pattern), alternatives);
  for (const std::string & alternative : alternatives)
    if (match_here(alternative, path)) return true;
  return false;
}

std::vector<std::string> split_glob_list(std::string_view list) {
  std::vector<std::string> globs;
  std::string current;
  int depth = 0;
  auto flush = [&]() {
    size_t b = current.find_first_not_of(" \t"), e = current.find_last_not_of(" \t");
    if (b != std::string::npos) globs.push_back(current.substr(b, e - b + 1));
    current.clear();
  };
  for (char c : list) {
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    if (c == ',' && depth == 0) { flush(); continue; }
    current += c;
  }
  flush();
  return globs;
}

}  // namespace m1::tools
