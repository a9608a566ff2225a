// Shell-style globs as search filters and .gitignore use them: `*` and `?` within one path
// segment, `[a-z]` / `[!a-z]` classes, `**` across segments ("**/" = any number of folders),
// `{a,b}` alternatives, backslash escapes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace m1::tools {

// Whether `path` (segments separated by '/') matches the whole `pattern`.
bool glob_match(std::string_view pattern, std::string_view path);

// "*.h, src/**/*.{cpp,cc}" -> {"*.h", "src/**/*.{cpp,cc}"}: splits on commas outside braces.
std::vector<std::string> split_glob_list(std::string_view list);

}  // namespace m1::tools
