// Undo entries as files: edit-history/<hash of the path>/<n>, n growing with each edit. An entry
// starts with a header naming the path (a hash collision is then detected, not followed).
#include "tools/edit_history.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace m1::tools {

namespace {

constexpr const char * kMagic = "m1-edit-history 1";

// FNV-1a 64: stable across runs and builds, unlike std::hash.
std::string path_key(const std::string & file) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : file) h = (h ^ c) * 1099511628211ull;
  char text[24];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

std::string encode(const std::string & file, const PreviousContent & before) {
  return std::string(kMagic) + " " + (before.existed ? "1" : "0") + " " + std::to_string(file.size()) + "\n" + file +
         "\n" + before.bytes;
}

std::optional<PreviousContent> decode(const std::string & file, const std::string & entry) {
  size_t newline = entry.find('\n');
  std::string header = entry.substr(0, newline);
  int existed = 0;
  unsigned long long path_size = 0;
  std::string magic = kMagic;
  if (newline == std::string::npos || header.compare(0, magic.size(), magic) != 0 ||
      std::sscanf(header.c_str() + magic.size(), " %d %llu", &existed, &path_size) != 2)
    return std::nullopt;
  size_t path_start = newline + 1;
  if (entry.size() < path_start + path_size + 1 || entry.compare(path_start, path_size, file) != 0) return std::nullopt;
  return PreviousContent{existed == 1, entry.substr(path_start + path_size + 1)};
}

// Entry numbers present in a stack folder, ascending.
std::vector<unsigned long> entry_numbers(const Workspace & scratch, const std::string & folder) {
  std::vector<unsigned long> numbers;
  auto entries = scratch.list_directory(folder);
  if (!entries) return numbers;
  for (const DirectoryEntry & e : *entries)
    if (!e.name.empty() && std::all_of(e.name.begin(), e.name.end(), ::isdigit)) numbers.push_back(std::stoul(e.name));
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

}  // namespace

Status EditHistory::push(const Workspace & scratch, const std::string & file, const PreviousContent & before) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string folder = "edit-history/" + path_key(file);
  std::vector<unsigned long> numbers = entry_numbers(scratch, folder);
  unsigned long next = numbers.empty() ? 1 : numbers.back() + 1;
  M1_RETURN_IF_ERROR(scratch.write_file(folder + "/" + std::to_string(next), encode(file, before), true));
  for (size_t i = 0; i + max_depth_ < numbers.size() + 1; ++i)
    (void)scratch.remove_file(folder + "/" + std::to_string(numbers[i]));  // oldest beyond the depth
  return Status();
}

Expected<std::optional<PreviousContent>> EditHistory::pop(const Workspace & scratch, const std::string & file) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string folder = "edit-history/" + path_key(file);
  std::vector<unsigned long> numbers = entry_numbers(scratch, folder);
  while (!numbers.empty()) {
    std::string entry_path = folder + "/" + std::to_string(numbers.back());
    numbers.pop_back();
    auto entry = scratch.read_file(entry_path, uint64_t(1) << 40);
    if (!entry) return entry.status();
    M1_RETURN_IF_ERROR(scratch.remove_file(entry_path));
    if (auto decoded = decode(file, *entry)) return std::optional<PreviousContent>(std::move(*decoded));
  }
  return std::optional<PreviousContent>();
}

}  // namespace m1::tools
