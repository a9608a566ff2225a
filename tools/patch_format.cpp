// Parser for the `*** Begin Patch` format (see patch_format.h). Lenient where models commonly
// slip without ambiguity: surrounding blank lines, CRLF, trailing spaces after markers, a first
// hunk without "@@", and an empty line inside a hunk read as an empty context line.
#include "tools/patch_format.h"

namespace m1::tools {

namespace {

constexpr std::string_view kBegin = "*** Begin Patch", kEnd = "*** End Patch", kAdd = "*** Add File: ",
                           kDelete = "*** Delete File: ", kUpdate = "*** Update File: ", kMove = "*** Move to: ",
                           kEndOfFile = "*** End of File";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

Status error_at(size_t line, const std::string & what) {
  return Status::error("patch line " + std::to_string(line) + ": " + what);
}

class Parser {
public:
  explicit Parser(std::string_view text) {
    size_t start = 0;
    while (start < text.size()) {
      size_t newline = text.find('\n', start);
      if (newline == std::string_view::npos) newline = text.size();
      std::string_view line = text.substr(start, newline - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines_.push_back(line);
      start = newline + 1;
    }
  }

  Expected<std::vector<FilePatch>> parse() {
    size_t first = 0, last = lines_.size();
    while (first < last && trim(lines_[first]).empty()) ++first;
    while (last > first && trim(lines_[last - 1]).empty()) --last;
    if (first == last || trim(lines_[first]) != kBegin)
      return Status::error("the patch must start with a line \"*** Begin Patch\"");
    if (last - first < 2 || trim(lines_[last - 1]) != kEnd)
      return Status::error("the patch must end with a line \"*** End Patch\"");
    std::vector<FilePatch> files;
    i_ = first + 1;
    end_ = last - 1;
    while (i_ < end_) {
      auto file = parse_file();
      if (!file) return file.status();
      files.push_back(std::move(*file));
    }
    if (files.empty()) return Status::error("the patch changes no file (no *** Add, Delete or Update File section)");
    return files;
  }

private:
  size_t number() const { return i_ + 1; }

  bool at_file_header() const {
    std::string_view line = trim(lines_[i_]);
    return starts_with(line, kAdd) || starts_with(line, kDelete) || starts_with(line, kUpdate);
  }

  Expected<FilePatch> parse_file() {
    std::string_view header = trim(lines_[i_]);
    FilePatch file;
    file.patch_line = number();
    auto path_after = [&](std::string_view prefix) { return std::string(trim(header.substr(prefix.size()))); };
    if (starts_with(header, kAdd)) {
      file.action = PatchAction::add, file.path = path_after(kAdd);
    } else if (starts_with(header, kDelete)) {
      file.action = PatchAction::remove, file.path = path_after(kDelete);
    } else if (starts_with(header, kUpdate)) {
      file.action = PatchAction::update, file.path = path_after(kUpdate);
    } else {
      return error_at(number(), "expected \"*** Add File: \", \"*** Delete File: \" or \"*** Update File: \", found \"" +
                                    std::string(lines_[i_]) + "\"");
    }
    if (file.path.empty()) return error_at(number(), "the file header names no path");
    ++i_;
    if (file.action == PatchAction::add) return parse_added_lines(std::move(file));
    if (file.action == PatchAction::update) return parse_hunks(std::move(file));
    return file;
  }

  Expected<FilePatch> parse_added_lines(FilePatch file) {
    while (i_ < end_ && !at_file_header()) {
      std::string_view line = lines_[i_];
      if (line.empty() || line[0] != '+')
        return error_at(number(), "in \"*** Add File: " + file.path + "\" every line must start with '+', found \"" +
                                      std::string(line) + "\"");
      file.added_lines.emplace_back(line.substr(1));
      ++i_;
    }
    return file;
  }

  Expected<FilePatch> parse_hunks(FilePatch file) {
    if (i_ < end_ && starts_with(trim(lines_[i_]), kMove)) {
      file.move_to = std::string(trim(trim(lines_[i_]).substr(kMove.size())));
      if (file.move_to.empty()) return error_at(number(), "\"*** Move to:\" names no path");
      ++i_;
    }
    while (i_ < end_ && !at_file_header()) {
      PatchHunk hunk;
      hunk.patch_line = number();
      std::string_view line = lines_[i_];
      if (starts_with(line, "@@")) {
        std::string_view anchor = trim(line.substr(2));
        if (starts_with(anchor, "@@")) anchor = trim(anchor.substr(2));  // "@@ @@"-style empty anchors
        hunk.anchor = std::string(anchor);
        ++i_;
      } else if (!file.hunks.empty()) {
        return error_at(number(), "expected a hunk starting with \"@@\", found \"" + std::string(line) + "\"");
      }
      M1_RETURN_IF_ERROR(parse_hunk_lines(hunk));
      if (hunk.lines.empty())
        return error_at(hunk.patch_line, "the hunk has no lines (each line starts with ' ', '-' or '+')");
      file.hunks.push_back(std::move(hunk));
    }
    if (file.hunks.empty() && file.move_to.empty())
      return error_at(file.patch_line, "\"*** Update File: " + file.path + "\" has no hunks");
    return file;
  }

  Status parse_hunk_lines(PatchHunk & hunk) {
    while (i_ < end_ && !at_file_header() && !starts_with(lines_[i_], "@@")) {
      std::string_view line = lines_[i_];
      if (trim(line) == kEndOfFile) {
        hunk.at_end_of_file = true;
        ++i_;
        break;
      }
      if (line.empty()) {
        hunk.lines.push_back({' ', ""});
      } else if (line[0] == ' ' || line[0] == '-' || line[0] == '+') {
        hunk.lines.push_back({line[0], std::string(line.substr(1))});
      } else {
        return error_at(number(), "a hunk line must start with ' ' (context), '-' (remove) or '+' (add), found \"" +
                                      std::string(line) + "\"");
      }
      ++i_;
    }
    return Status();
  }

  std::vector<std::string_view> lines_;
  size_t i_ = 0, end_ = 0;
};

}  // namespace

Expected<std::vector<FilePatch>> parse_patch(std::string_view text) { return Parser(text).parse(); }

}  // namespace m1::tools
