// Hunk matching with increasing tolerance (exact, then trailing whitespace, then both ends), from a
// cursor that only moves forward, so hunks apply in file order.
#include "tools/patch_application.h"

#include <functional>
#include <optional>

#include "tools/text_file.h"

namespace m1::tools {

namespace {

struct FileLine {
  std::string text;    // without terminator
  std::string ending;  // "\n", "\r\n" or "" (last line without newline)
};

std::vector<FileLine> to_lines(const std::string & text) {
  std::vector<FileLine> lines;
  for (std::string_view line : split_lines_keep_endings(text)) {
    std::string_view bare = strip_line_ending(line);
    lines.push_back({std::string(bare), std::string(line.substr(bare.size()))});
  }
  return lines;
}

std::string trim_end(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

std::string trim_both(std::string_view s) {
  std::string t = trim_end(s);
  size_t first = t.find_first_not_of(" \t");
  return first == std::string::npos ? "" : t.substr(first);
}

using LineEquality = std::function<bool(const std::string &, const std::string &)>;

const std::vector<LineEquality> & tolerances() {
  static const std::vector<LineEquality> levels = {
      [](const std::string & a, const std::string & b) { return a == b; },
      [](const std::string & a, const std::string & b) { return trim_end(a) == trim_end(b); },
      [](const std::string & a, const std::string & b) { return trim_both(a) == trim_both(b); },
  };
  return levels;
}

// First index >= from where `wanted` matches; with `at_end`, only the position ending the file.
std::optional<size_t> find_lines(const std::vector<FileLine> & lines, const std::vector<std::string> & wanted,
                                 size_t from, bool at_end) {
  if (wanted.size() > lines.size()) return std::nullopt;
  for (const LineEquality & equal : tolerances()) {
    auto matches_at = [&](size_t at) {
      for (size_t k = 0; k < wanted.size(); ++k)
        if (!equal(lines[at + k].text, wanted[k])) return false;
      return true;
    };
    if (at_end) {
      size_t at = lines.size() - wanted.size();
      if (at >= from && matches_at(at)) return at;
      continue;
    }
    for (size_t at = from; at + wanted.size() <= lines.size(); ++at)
      if (matches_at(at)) return at;
  }
  return std::nullopt;
}

std::string quoted_lines(const std::vector<std::string> & lines) {
  std::string out;
  for (size_t i = 0; i < lines.size() && i < 12; ++i) out += "\n  " + lines[i];
  if (lines.size() > 12) out += "\n  ... (" + std::to_string(lines.size() - 12) + " more)";
  return out;
}

struct Replacement {
  size_t start, n_old;
  const PatchHunk * hunk;
};

Status hunk_error(const PatchHunk & hunk, size_t index, const std::string & shown_path, const std::string & what) {
  return Status::error("hunk " + std::to_string(index + 1) + " of " + shown_path + " (patch line " +
                       std::to_string(hunk.patch_line) + ") " + what);
}

Expected<Replacement> locate(const std::vector<FileLine> & lines, const PatchHunk & hunk, size_t index, size_t & cursor,
                             const std::string & shown_path) {
  if (!hunk.anchor.empty()) {
    auto at = find_lines(lines, {hunk.anchor}, cursor, false);
    if (!at) return hunk_error(hunk, index, shown_path, "did not match: the @@ line \"" + hunk.anchor + "\" was not found" +
                                                            (cursor ? " after line " + std::to_string(cursor) : ""));
    cursor = *at + 1;
  }
  std::vector<std::string> old_lines;
  for (const PatchLine & line : hunk.lines)
    if (line.op != '+') old_lines.push_back(line.text);
  if (old_lines.empty()) {  // pure addition: after the anchor, else at the end of the file
    size_t at = hunk.anchor.empty() ? lines.size() : cursor;
    cursor = at;  // later hunks apply after it
    return Replacement{at, 0, &hunk};
  }
  auto at = find_lines(lines, old_lines, cursor, hunk.at_end_of_file);
  // An empty context line at the hunk's end is often a separator the model left, not file content.
  size_t n_old = old_lines.size();
  while (!at && n_old > 1 && old_lines[n_old - 1].empty() && hunk.lines.back().op == ' ') {
    old_lines.pop_back(), --n_old;
    at = find_lines(lines, old_lines, cursor, hunk.at_end_of_file);
  }
  if (!at)
    return hunk_error(hunk, index, shown_path,
                      std::string("did not match: these lines were not found") +
                          (cursor ? " after line " + std::to_string(cursor) : "") +
                          (hunk.at_end_of_file ? " at the end of the file" : "") + ":" + quoted_lines(old_lines) +
                          "\nView the file and copy the context and '-' lines exactly.");
  cursor = *at + n_old;
  return Replacement{*at, n_old, &hunk};
}

}  // namespace

Expected<std::string> apply_hunks(const std::string & text, const std::vector<PatchHunk> & hunks,
                                  const std::string & shown_path) {
  std::vector<FileLine> lines = to_lines(text);
  std::string ending = dominant_line_ending(text);
  std::vector<Replacement> replacements;
  size_t cursor = 0;
  for (size_t i = 0; i < hunks.size(); ++i) {
    auto replacement = locate(lines, hunks[i], i, cursor, shown_path);
    if (!replacement) return replacement.status();
    replacements.push_back(*replacement);
  }
  std::vector<FileLine> result;
  size_t next = 0;
  for (const Replacement & r : replacements) {
    result.insert(result.end(), lines.begin() + long(next), lines.begin() + long(r.start));
    size_t k = r.start, consumed = 0;
    for (const PatchLine & line : r.hunk->lines) {
      if (line.op == '+') {
        result.push_back({line.text, ending});
      } else if (consumed < r.n_old) {
        if (line.op == ' ') result.push_back(lines[k]);  // the file's own bytes, not the patch's
        ++k, ++consumed;
      }
    }
    next = r.start + r.n_old;
  }
  result.insert(result.end(), lines.begin() + long(next), lines.end());
  bool had_final_newline = text.empty() || text.back() == '\n';
  std::string out;
  for (size_t i = 0; i < result.size(); ++i) {
    bool last = i + 1 == result.size();
    std::string line_ending = result[i].ending.empty() ? ending : result[i].ending;
    out += result[i].text;
    if (!last || had_final_newline) out += line_ending;
  }
  return out;
}

}  // namespace m1::tools
