// .gitignore parsing and matching (gitignore(5)).
#include "tools/gitignore.h"

#include "tools/glob_pattern.h"

namespace m1::tools {

namespace {

// Trailing spaces are dropped unless escaped with a backslash.
std::string trim_trailing_spaces(std::string line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) {
    size_t backslashes = 0;
    for (size_t i = line.size() - 1; i > 0 && line[i - 1] == '\\'; --i) ++backslashes;
    if (backslashes % 2 == 1) break;
    line.pop_back();
  }
  return line;
}

}  // namespace

GitignoreRules::GitignoreRules(std::string base, std::string_view content) : base_(std::move(base)) {
  size_t start = 0;
  while (start < content.size()) {
    size_t newline = content.find('\n', start);
    if (newline == std::string_view::npos) newline = content.size();
    std::string line(content.substr(start, newline - start));
    start = newline + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    line = trim_trailing_spaces(line);
    if (line.empty() || line[0] == '#') continue;
    Rule rule;
    if (line[0] == '!') rule.negated = true, line.erase(0, 1);
    else if (line.size() > 1 && line[0] == '\\' && (line[1] == '#' || line[1] == '!')) line.erase(0, 1);
    if (!line.empty() && line.back() == '/') rule.directory_only = true, line.pop_back();
    if (line.empty()) continue;
    rule.anchored = line.find('/') != std::string::npos;
    if (line[0] == '/') line.erase(0, 1);
    rule.pattern = line;
    rules_.push_back(std::move(rule));
  }
}

std::optional<bool> GitignoreRules::decide(const std::string & relative_path, bool is_directory) const {
  std::string below = relative_path;
  if (base_ != ".") {
    if (relative_path.compare(0, base_.size() + 1, base_ + "/") != 0) return std::nullopt;
    below = relative_path.substr(base_.size() + 1);
  }
  size_t slash = below.rfind('/');
  std::string name = slash == std::string::npos ? below : below.substr(slash + 1);
  for (auto rule = rules_.rbegin(); rule != rules_.rend(); ++rule) {
    if (rule->directory_only && !is_directory) continue;
    bool matched = rule->anchored ? glob_match(rule->pattern, below) : glob_match(rule->pattern, name);
    if (matched) return !rule->negated;
  }
  return std::nullopt;
}

bool is_ignored(const std::vector<GitignoreRules> & stack, const std::string & relative_path, bool is_directory) {
  for (auto rules = stack.rbegin(); rules != stack.rend(); ++rules)
    if (auto decision = rules->decide(relative_path, is_directory)) return *decision;
  return false;
}

}  // namespace m1::tools
