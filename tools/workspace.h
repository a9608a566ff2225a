// File access confined to one folder (the workspace), for the tools that run in-process (editor,
// search, apply_patch). Every path is resolved by the kernel with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS) from a descriptor of the root, so neither "..", an absolute symlink nor
// a symlink swapped in between two calls can reach a file outside. Later steps work on single
// names relative to an already-confined directory descriptor (openat O_EXCL, renameat, unlinkat),
// which never follow a symlink. Without openat2 (Linux < 5.6, or a filter that denies it)
// Workspace::open fails: the file tools refuse to run unconfined.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace m1::tools {

// An owned file descriptor.
class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd && other) noexcept : fd_(other.release()) {}
  UniqueFd & operator=(UniqueFd && other) noexcept;
  UniqueFd(const UniqueFd &) = delete;
  UniqueFd & operator=(const UniqueFd &) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() { int fd = fd_; fd_ = -1; return fd; }
  bool valid() const { return fd_ >= 0; }

private:
  int fd_ = -1;
};

struct PathInfo {
  bool exists = false;
  bool is_directory = false;
  bool is_regular = false;
  uint64_t size = 0;
  mode_t mode = 0;
};

struct DirectoryEntry {
  std::string name;
  bool is_directory = false;
  bool is_symlink = false;
  bool is_regular = false;
};

class Workspace {
public:
  // Opens `root` (must be an existing directory). Fails with a clear message when openat2 is
  // unavailable here.
  static Expected<Workspace> open(const std::string & root);

  const std::string & root() const { return root_; }  // absolute, symlinks resolved

  // The workspace-relative form of a path the model gave: absolute paths must lie under the root,
  // relative ones are taken from the root. "." is the root. A lexical ".." that climbs out fails
  // here; symlinks are checked when the path is opened.
  Expected<std::string> relative(const std::string & path) const;
  std::string absolute(const std::string & relative_path) const;

  // Resolves symlinks (inside the workspace only) and reports what the path is; a missing path
  // is {exists = false}, not an error.
  Expected<PathInfo> info(const std::string & relative_path) const;
  // openat2 beneath the root; flags as for open(2) (O_CLOEXEC is added).
  Expected<UniqueFd> open_beneath(const std::string & relative_path, int flags, mode_t mode = 0) const;
  // The whole file; fails for directories and files larger than `max_bytes`.
  Expected<std::string> read_file(const std::string & relative_path, uint64_t max_bytes) const;
  // Replaces (or creates) the file atomically: a temporary file in the same folder, renamed over
  // it. Keeps the old file's permission bits. A symlink inside the workspace is written through
  // (its target changes, the link stays). With `make_parents`, missing folders are created.
  Status write_file(const std::string & relative_path, const std::string & bytes, bool make_parents) const;
  Status remove_file(const std::string & relative_path) const;
  Status make_directories(const std::string & relative_path) const;
  // Entries sorted by name, without "." and "..".
  Expected<std::vector<DirectoryEntry>> list_directory(const std::string & relative_path) const;
  // A workspace rooted at a folder of this one, opened beneath this root.
  Expected<Workspace> subfolder(const std::string & relative_path) const;

private:
  Workspace(std::string root, std::string given_root, UniqueFd fd)
      : root_(std::move(root)), given_root_(std::move(given_root)), root_fd_(std::move(fd)) {}
  Expected<std::string> resolve_symlinked_target(const std::string & relative_path) const;
  Status write_in_folder(int folder_fd, const std::string & name, const std::string & bytes,
                         const std::string & shown_path) const;

  std::string root_;        // realpath of the root
  std::string given_root_;  // the root as the caller spelled it (absolute paths may use either)
  UniqueFd root_fd_;
};

// A Workspace error names the relative path; this renames it as the model wrote it.
std::string restate(const Status & status, const std::string & relative_path, const std::string & shown_path);

// "a/b/../c" -> "a/c"; fails when ".." would climb above the start. "" and "." give ".".
Expected<std::string> normalize_relative_path(const std::string & path);

}  // namespace m1::tools
