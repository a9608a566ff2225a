// The rules of one .gitignore file, as git applies them: blank lines and # comments skipped,
// "!" re-includes, a trailing "/" matches only directories, a pattern with a "/" before its end is
// relative to the file's folder, one without matches at any depth; the last matching rule wins.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace m1::tools {

class GitignoreRules {
public:
  // `base` is the folder holding the .gitignore, workspace-relative ("." for the root).
  GitignoreRules(std::string base, std::string_view content);

  const std::string & base() const { return base_; }
  bool empty() const { return rules_.empty(); }

  // For a workspace-relative path under base(): true = ignored, false = re-included by a "!"
  // rule, nullopt = no rule matches.
  std::optional<bool> decide(const std::string & relative_path, bool is_directory) const;

private:
  struct Rule {
    std::string pattern;  // glob, relative to base when anchored
    bool negated = false;
    bool directory_only = false;
    bool anchored = false;
  };
  std::string base_;
  std::vector<Rule> rules_;
};

// Whether `path` is ignored by the stack of rule files, outermost first (deeper files decide
// before shallower ones, as in git).
bool is_ignored(const std::vector<GitignoreRules> & stack, const std::string & relative_path, bool is_directory);

}  // namespace m1::tools
