// The search tool: a confined directory walk feeding a PCRE2 matcher.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tools/search_tool.h"

#include <pcre2.h>

#include <memory>
#include <set>

#include "tools/gitignore.h"
#include "tools/glob_pattern.h"
#include "tools/text_file.h"
#include "tools/workspace.h"

namespace m1::tools {

namespace {

const char * kDescription =
    "Search file contents in the workspace with a regular expression (PCRE2 syntax, like `rg -n`). "
    "Prints `path:line:text` for each matching line (paths relative to the workspace) and "
    "`path-line-text` for context lines. Files ignored by .gitignore, the .git folder, binary files "
    "and symlinks are skipped. `^` and `$` match at line boundaries.";

Json parameters_schema() {
  return Json::parse(R"({
    "type": "object",
    "properties": {
      "pattern": {"type": "string", "minLength": 1, "description": "Regular expression (PCRE2)."},
      "path": {"type": "string", "description": "File or directory to search (default: the whole workspace)."},
      "include": {"type": "string",
                  "description": "Only files matching these globs, comma-separated, e.g. \"*.py\" or \"src/**/*.{h,cpp}\"."},
      "exclude": {"type": "string", "description": "Skip files and directories matching these globs, comma-separated."},
      "context": {"type": "integer", "minimum": 0, "maximum": 20, "description": "Lines of context around each match."},
      "max_results": {"type": "integer", "minimum": 1, "maximum": 2000, "description": "Stop after this many matching lines (default 100)."},
      "case_insensitive": {"type": "boolean", "description": "Ignore case (default false)."}
    },
    "required": ["pattern"],
    "additionalProperties": false
  })");
}

struct CodeDeleter {
  void operator()(pcre2_code * code) const { pcre2_code_free(code); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data * data) const { pcre2_match_data_free(data); }
};
struct CompileContextDeleter {
  void operator()(pcre2_compile_context * context) const { pcre2_compile_context_free(context); }
};

Expected<std::unique_ptr<pcre2_code, CodeDeleter>> compile(const std::string & pattern, bool caseless) {
  std::unique_ptr<pcre2_compile_context, CompileContextDeleter> context(pcre2_compile_context_create(nullptr));
  pcre2_set_newline(context.get(), PCRE2_NEWLINE_ANYCRLF);  // `$` before "\r\n" too
  uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE | (caseless ? PCRE2_CASELESS : 0);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code * code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                                    &offset, context.get());
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    return Status::error("invalid regular expression at offset " + std::to_string(offset) + ": " +
                         reinterpret_cast<char *>(message));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  return std::unique_ptr<pcre2_code, CodeDeleter>(code);
}

struct SearchOptions {
  std::vector<std::string> include, exclude;
  size_t context = 0;
  size_t max_results = SearchTool::kDefaultMaxResults;
};

class Searcher {
public:
  Searcher(const Workspace & workspace, pcre2_code * code, const SearchOptions & options, const ToolContext & context)
      : workspace_(workspace), code_(code), options_(options), context_(context),
        match_data_(pcre2_match_data_create_from_pattern(code, nullptr)) {}

  size_t n_matches = 0, n_files_matched = 0, n_files_searched = 0;
  bool capped = false, output_full = false, cancelled = false;
  std::string listing;

  // Loads the .gitignore files of the folders above `relative` (the search root).
  void load_ancestor_ignores(const std::string & relative) {
    load_ignore(".");
    size_t slash = 0;
    while ((slash = relative.find('/', slash + 1)) != std::string::npos) load_ignore(relative.substr(0, slash));
    if (relative != ".") load_ignore(relative);
  }

  void walk(const std::string & folder) {
    auto entries = workspace_.list_directory(folder);
    if (!entries) return;  // unreadable folders are skipped, as rg does
    size_t pushed = ignores_.size();
    if (folder != "." && !loaded_.count(folder)) load_ignore(folder);
    for (const DirectoryEntry & e : *entries) {
      if (stopped()) break;
      if (e.is_symlink) continue;
      std::string path = folder == "." ? e.name : folder + "/" + e.name;
      if (e.is_directory) {
        if (e.name == ".git" || e.name == ".m1" || is_ignored(ignores_, path, true) || excluded(path)) continue;
        walk(path);
      } else if (e.is_regular && !is_ignored(ignores_, path, false) && !excluded(path) && included(path)) {
        search_file(path);
      }
    }
    ignores_.erase(ignores_.begin() + long(pushed), ignores_.end());
  }

  void search_file(const std::string & path) {
    if (context_.cancelled()) { cancelled = true; return; }
    if (n_matches >= options_.max_results) { capped = true; return; }
    auto bytes = workspace_.read_file(path, kMaxTextFileBytes);
    if (!bytes || looks_binary(*bytes)) return;
    ++n_files_searched;
    std::vector<size_t> hits = matching_lines(*bytes);
    if (hits.empty()) return;
    ++n_files_matched;
    append_file_listing(path, *bytes, hits);
  }

  bool stopped() const { return capped || output_full || cancelled; }

private:
  void load_ignore(const std::string & folder) {
    loaded_.insert(folder);
    auto content = workspace_.read_file(folder == "." ? ".gitignore" : folder + "/.gitignore", 1 << 20);
    if (content) ignores_.emplace_back(folder, *content);
  }

  static bool any_glob(const std::vector<std::string> & globs, const std::string & path) {
    size_t slash = path.rfind('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    for (const std::string & glob : globs) {
      bool has_slash = glob.find('/') != std::string::npos;
      std::string pattern = !glob.empty() && glob[0] == '/' ? glob.substr(1) : glob;
      if (has_slash ? glob_match(pattern, path) : glob_match(pattern, name)) return true;
    }
    return false;
  }
  bool excluded(const std::string & path) const { return any_glob(options_.exclude, path); }
  bool included(const std::string & path) const { return options_.include.empty() || any_glob(options_.include, path); }

  // 0-based numbers of the lines where a match starts; at most what the result cap still allows.
  std::vector<size_t> matching_lines(const std::string & text) {
    std::vector<size_t> lines;
    size_t offset = 0, line = 0, line_start = 0;
    while (offset <= text.size() && n_matches + lines.size() < options_.max_results) {
      int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), offset, 0,
                           match_data_.get(), nullptr);
      if (rc < 0) break;  // no match (or a matching error, e.g. the backtracking limit): move on
      size_t start = pcre2_get_ovector_pointer(match_data_.get())[0];
      if (start == text.size() && (text.empty() || text.back() == '\n')) break;  // past the last line
      for (size_t i = line_start; i < start; ++i)
        if (text[i] == '\n') ++line, line_start = i + 1;
      lines.push_back(line);
      size_t next_line = text.find('\n', start);
      if (next_line == std::string::npos) break;
      offset = next_line + 1;
    }
    if (n_matches + lines.size() >= options_.max_results && offset < text.size()) capped = true;
    return lines;
  }

  void append_file_listing(const std::string & path, const std::string & text, const std::vector<size_t> & hits) {
    auto lines = split_lines_keep_endings(text);
    std::set<size_t> hit_set(hits.begin(), hits.end());
    std::vector<size_t> shown;  // ascending, each line once even where contexts overlap
    for (size_t hit : hits) {
      size_t from = hit >= options_.context ? hit - options_.context : 0;
      size_t to = std::min(lines.size() - 1, hit + options_.context);
      for (size_t i = shown.empty() ? from : std::max(from, shown.back() + 1); i <= to; ++i) shown.push_back(i);
    }
    size_t previous = SIZE_MAX;
    for (size_t i : shown) {
      // As rg: "--" separates groups of lines that are not adjacent, when context is shown.
      bool gap = previous == SIZE_MAX ? !listing.empty() : i != previous + 1;
      if (options_.context > 0 && gap) listing += "--\n";
      bool is_hit = hit_set.count(i) > 0;
      append_line(path, i, lines[i], is_hit);
      n_matches += is_hit;
      previous = i;
      if (listing.size() > SearchTool::kMaxOutputBytes) {
        output_full = true;
        return;
      }
    }
  }

  void append_line(const std::string & path, size_t index, std::string_view line, bool is_hit) {
    std::string_view content = strip_line_ending(line);
    char separator = is_hit ? ':' : '-';
    listing += path + separator + std::to_string(index + 1) + separator;
    if (content.size() > SearchTool::kMaxLineBytes) {
      listing += utf8_prefix(content, SearchTool::kMaxLineBytes);
      listing += " [... " + std::to_string(content.size() - utf8_prefix(content, SearchTool::kMaxLineBytes).size()) +
                 " more bytes]";
    } else {
      listing += content;
    }
    listing += '\n';
  }

  const Workspace & workspace_;
  pcre2_code * code_;
  const SearchOptions & options_;
  const ToolContext & context_;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match_data_;
  std::vector<GitignoreRules> ignores_;  // outermost first; walk() pops what it pushed
  std::set<std::string> loaded_;         // folders whose .gitignore is already on the stack
};

std::string summary(const Searcher & searcher, const std::string & pattern, const std::string & where) {
  if (searcher.cancelled) return "search cancelled";
  if (searcher.n_matches == 0)
    return "No matches for /" + pattern + "/ in " + where + " (" + std::to_string(searcher.n_files_searched) +
           " files searched).\n";
  std::string text = std::to_string(searcher.n_matches) + (searcher.n_matches == 1 ? " matching line" : " matching lines") +
                     " in " + std::to_string(searcher.n_files_matched) + (searcher.n_files_matched == 1 ? " file" : " files") + ":\n";
  text += searcher.listing;
  if (searcher.capped)
    text += "[stopped at max_results = " + std::to_string(searcher.n_matches) +
            "; there may be more matches: narrow the pattern, path or include, or raise max_results]\n";
  if (searcher.output_full)
    text += "[stopped: the listing reached " + std::to_string(SearchTool::kMaxOutputBytes) +
            " bytes; narrow the pattern, path or include]\n";
  return text;
}

}  // namespace

SearchTool::SearchTool() : spec_{"search", kDescription, parameters_schema()} {}

ToolResult SearchTool::call(const Json & arguments, const ToolContext & context) {
  auto workspace = Workspace::open(context.workspace);
  if (!workspace) return ToolResult::error(workspace.status().message());
  std::string pattern = arguments["pattern"].get<std::string>();
  std::string shown = arguments.value("path", std::string("."));
  auto relative = workspace->relative(shown);
  if (!relative) return ToolResult::error(relative.status().message());
  auto info = workspace->info(*relative);
  if (!info) return ToolResult::error(restate(info.status(), *relative, shown));
  if (!info->exists) return ToolResult::error(shown + ": no such file or directory; check the path");
  auto code = compile(pattern, arguments.value("case_insensitive", false));
  if (!code) return ToolResult::error(code.status().message());

  SearchOptions options;
  options.include = split_glob_list(arguments.value("include", std::string()));
  options.exclude = split_glob_list(arguments.value("exclude", std::string()));
  options.context = arguments.value("context", 0);
  options.max_results = arguments.value("max_results", kDefaultMaxResults);
  Searcher searcher(*workspace, code->get(), options, context);
  if (info->is_directory) {
    searcher.load_ancestor_ignores(*relative);
    searcher.walk(*relative);
  } else {
    searcher.search_file(*relative);  // a file named explicitly is searched even if ignored
  }
  if (searcher.cancelled) return ToolResult::error("search cancelled");
  ToolResult result = ToolResult::success(summary(searcher, pattern, shown));
  result.metadata["matches"] = searcher.n_matches;
  result.metadata["files_matched"] = searcher.n_files_matched;
  result.metadata["files_searched"] = searcher.n_files_searched;
  result.metadata["truncated"] = searcher.capped || searcher.output_full;
  return result;
}

}  // namespace m1::tools
