// Workspace confinement through openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS); see workspace.h.
#include "tools/workspace.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <random>

namespace m1::tools {

UniqueFd & UniqueFd::operator=(UniqueFd && other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

constexpr uint64_t kResolveFlags = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

int openat2_beneath(int dir_fd, const std::string & path, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = kResolveFlags;
  for (int attempt = 0; attempt < 8; ++attempt) {
    long fd = syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof how);
    // EAGAIN: a concurrent rename moved something during a ".." walk; the kernel asks to retry.
    if (fd >= 0 || errno != EAGAIN) return static_cast<int>(fd);
  }
  return -1;
}

std::string describe_errno(const std::string & shown_path, int error) {
  switch (error) {
    case EXDEV: return shown_path + ": resolves outside the workspace (through \"..\" or a symlink); only files inside it can be used";
    case ELOOP: return shown_path + ": too many levels of symlinks, or a /proc magic link";
    case ENOENT: return shown_path + ": no such file or directory";
    case ENOTDIR: return shown_path + ": a component of the path is not a directory";
    case EISDIR: return shown_path + ": is a directory";
    case EACCES:
    case EPERM: return shown_path + ": permission denied";
    case ENOSPC: return shown_path + ": no space left on the device";
    case EROFS: return shown_path + ": the file system is read-only";
    default: return shown_path + ": " + std::strerror(error);
  }
}

Status errno_status(const std::string & shown_path, int error) {
  return Status::error(describe_errno(shown_path, error));
}

// Splits "a/b/c" into ("a/b", "c"); ("." , "c") for a bare name.
std::pair<std::string, std::string> split_parent(const std::string & relative_path) {
  size_t slash = relative_path.rfind('/');
  if (slash == std::string::npos) return {".", relative_path};
  return {relative_path.substr(0, slash), relative_path.substr(slash + 1)};
}

std::string temporary_name(const std::string & name) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char suffix[48];
  std::snprintf(suffix, sizeof suffix, ".m1-%d-%llx-%llu.tmp", int(getpid()),
                static_cast<unsigned long long>(salt & 0xffffff),
                static_cast<unsigned long long>(counter.fetch_add(1)));
  std::string base = name.size() > 180 ? name.substr(0, 180) : name;
  return "." + base + suffix;
}

Status write_all(int fd, const std::string & bytes, const std::string & shown_path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(shown_path, errno);
    done += static_cast<size_t>(n);
  }
  return Status();
}

}  // namespace

std::string restate(const Status & status, const std::string & relative_path, const std::string & shown_path) {
  const std::string & message = status.message();
  if (message.compare(0, relative_path.size() + 2, relative_path + ": ") == 0)
    return shown_path + message.substr(relative_path.size());
  return shown_path + ": " + message;
}

Expected<std::string> normalize_relative_path(const std::string & path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string part = path.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return Status::error(path + ": climbs above the workspace root with \"..\"");
      parts.pop_back();
      continue;
    }
    parts.push_back(std::move(part));
  }
  if (parts.empty()) return std::string(".");
  std::string joined;
  for (const std::string & part : parts) joined += (joined.empty() ? "" : "/") + part;
  return joined;
}

Expected<Workspace> Workspace::open(const std::string & root) {
  if (root.empty()) return Status::error("workspace: no folder given");
  char resolved[PATH_MAX];
  if (!::realpath(root.c_str(), resolved)) return Status::error("workspace " + root + ": " + std::strerror(errno));
  UniqueFd fd(::open(resolved, O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::error("workspace " + root + ": " + std::strerror(errno));
  // The probe: confinement is built on openat2, so its absence must stop the file tools.
  UniqueFd probe(openat2_beneath(fd.get(), ".", O_PATH | O_DIRECTORY, 0));
  if (!probe.valid()) {
    if (errno == ENOSYS || errno == EPERM)
      return Status::error("workspace " + root + ": the openat2 system call is not available (Linux >= 5.6 "
                           "needed, and no seccomp filter denying it); file tools refuse to run unconfined");
    return Status::error("workspace " + root + ": openat2 failed: " + std::strerror(errno));
  }
  std::string given = root;
  while (given.size() > 1 && given.back() == '/') given.pop_back();
  return Workspace(resolved, given, std::move(fd));
}

Expected<std::string> Workspace::relative(const std::string & path) const {
  if (path.empty()) return Status::error("the path is empty; give a path inside the workspace " + root_);
  if (path.find('\0') != std::string::npos) return Status::error("the path contains a NUL byte");
  std::string rest = path;
  if (path[0] == '/') {
    auto strip = [&](const std::string & prefix) {
      if (prefix == "/") { rest = path.substr(1); return true; }
      if (path == prefix) { rest = "."; return true; }
      if (path.compare(0, prefix.size(), prefix) == 0 && path[prefix.size()] == '/') {
        rest = path.substr(prefix.size() + 1);
        return true;
      }
      return false;
    };
    if (!strip(root_) && !strip(given_root_))
      return Status::error(path + ": is outside the workspace " + root_ + "; use a path inside it");
  }
  auto normalized = normalize_relative_path(rest);
  if (!normalized) return Status::error(path + ": is outside the workspace " + root_ + "; use a path inside it");
  return normalized;
}

std::string Workspace::absolute(const std::string & relative_path) const {
  if (relative_path == "." || relative_path.empty()) return root_;
  return root_ == "/" ? "/" + relative_path : root_ + "/" + relative_path;
}

Expected<UniqueFd> Workspace::open_beneath(const std::string & relative_path, int flags, mode_t mode) const {
  UniqueFd fd(openat2_beneath(root_fd_.get(), relative_path, flags, mode));
  if (!fd.valid()) return errno_status(relative_path, errno);
  return fd;
}

Expected<PathInfo> Workspace::info(const std::string & relative_path) const {
  PathInfo info;
  UniqueFd fd(openat2_beneath(root_fd_.get(), relative_path, O_PATH, 0));
  if (!fd.valid()) {
    if (errno == ENOENT) return info;
    return errno_status(relative_path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_status(relative_path, errno);
  info.exists = true;
  info.is_directory = S_ISDIR(st.st_mode);
  info.is_regular = S_ISREG(st.st_mode);
  info.size = static_cast<uint64_t>(st.st_size);
  info.mode = st.st_mode;
  return info;
}

Expected<std::string> Workspace::read_file(const std::string & relative_path, uint64_t max_bytes) const {
  auto fd = open_beneath(relative_path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!fd) return fd.status();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return errno_status(relative_path, errno);
  if (S_ISDIR(st.st_mode)) return Status::error(relative_path + ": is a directory");
  if (!S_ISREG(st.st_mode)) return Status::error(relative_path + ": is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return Status::error(relative_path + ": is " + std::to_string(st.st_size) + " bytes, more than the " +
                         std::to_string(max_bytes) + " bytes this tool reads");
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (true) {
    if (done == bytes.size()) bytes.resize(bytes.size() + 4096);  // the file grew meanwhile
    ssize_t n = ::read(fd->get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(relative_path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
    if (done > max_bytes) return Status::error(relative_path + ": grew beyond " + std::to_string(max_bytes) + " bytes while being read");
  }
  bytes.resize(done);
  return bytes;
}

Expected<std::string> Workspace::resolve_symlinked_target(const std::string & relative_path) const {
  UniqueFd link(openat2_beneath(root_fd_.get(), relative_path, O_PATH | O_NOFOLLOW, 0));
  if (!link.valid()) return relative_path;  // missing: written as a new file at this path
  struct stat st {};
  if (::fstat(link.get(), &st) != 0 || !S_ISLNK(st.st_mode)) return relative_path;
  UniqueFd target(openat2_beneath(root_fd_.get(), relative_path, O_PATH, 0));
  if (!target.valid()) return errno_status(relative_path, errno);
  char buffer[PATH_MAX];
  std::string proc = "/proc/self/fd/" + std::to_string(target.get());
  ssize_t n = ::readlink(proc.c_str(), buffer, sizeof buffer - 1);
  if (n < 0) return errno_status(relative_path, errno);
  std::string resolved(buffer, static_cast<size_t>(n));
  std::string prefix = root_ == "/" ? "/" : root_ + "/";
  if (resolved.compare(0, prefix.size(), prefix) != 0)
    return Status::error(relative_path + ": resolves outside the workspace");
  return resolved.substr(prefix.size());
}

Status Workspace::write_in_folder(int folder_fd, const std::string & name, const std::string & bytes,
                                  const std::string & shown_path) const {
  struct stat old {};
  bool replacing = ::fstatat(folder_fd, name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0;
  if (replacing && !S_ISREG(old.st_mode)) return Status::error(shown_path + ": is not a regular file");
  std::string temporary = temporary_name(name);
  UniqueFd out(::openat(folder_fd, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
  if (!out.valid()) return errno_status(shown_path, errno);
  Status written = write_all(out.get(), bytes, shown_path);
  if (written.ok() && replacing && ::fchmod(out.get(), old.st_mode & 07777) != 0) written = errno_status(shown_path, errno);
  if (written.ok() && ::close(out.release()) != 0) written = errno_status(shown_path, errno);
  if (written.ok() && ::renameat(folder_fd, temporary.c_str(), folder_fd, name.c_str()) != 0)
    written = errno_status(shown_path, errno);
  if (!written.ok()) ::unlinkat(folder_fd, temporary.c_str(), 0);
  return written;
}

Status Workspace::write_file(const std::string & relative_path, const std::string & bytes, bool make_parents) const {
  auto target = resolve_symlinked_target(relative_path);
  if (!target) return target.status();
  auto [parent, name] = split_parent(*target);
  if (name.empty() || name == "." || name == "..") return Status::error(relative_path + ": is not a file path");
  if (make_parents) M1_RETURN_IF_ERROR(make_directories(parent));
  auto folder = open_beneath(parent, O_PATH | O_DIRECTORY);
  if (!folder) return Status::error(describe_errno(relative_path, errno));
  return write_in_folder(folder->get(), name, bytes, relative_path);
}

Status Workspace::remove_file(const std::string & relative_path) const {
  auto [parent, name] = split_parent(relative_path);
  if (name.empty() || name == "." || name == "..") return Status::error(relative_path + ": is not a file path");
  auto folder = open_beneath(parent, O_PATH | O_DIRECTORY);
  if (!folder) return folder.status();
  if (::unlinkat(folder->get(), name.c_str(), 0) != 0) return errno_status(relative_path, errno);
  return Status();
}

Status Workspace::make_directories(const std::string & relative_path) const {
  if (relative_path == "." || relative_path.empty()) return Status();
  std::string built = ".";
  size_t start = 0;
  while (start < relative_path.size()) {
    size_t slash = relative_path.find('/', start);
    if (slash == std::string::npos) slash = relative_path.size();
    std::string part = relative_path.substr(start, slash - start);
    start = slash + 1;
    auto folder = open_beneath(built, O_PATH | O_DIRECTORY);
    if (!folder) return folder.status();
    if (::mkdirat(folder->get(), part.c_str(), 0777) != 0 && errno != EEXIST)
      return errno_status(built == "." ? part : built + "/" + part, errno);
    built = built == "." ? part : built + "/" + part;
  }
  auto check = info(relative_path);
  if (!check) return check.status();
  if (!check->is_directory) return Status::error(relative_path + ": exists and is not a directory");
  return Status();
}

Expected<std::vector<DirectoryEntry>> Workspace::list_directory(const std::string & relative_path) const {
  auto fd = open_beneath(relative_path, O_RDONLY | O_DIRECTORY);
  if (!fd) return fd.status();
  DIR * dir = ::fdopendir(fd->get());
  if (!dir) return errno_status(relative_path, errno);
  int dir_fd = fd->release();  // owned by `dir` from here
  std::vector<DirectoryEntry> entries;
  while (dirent * e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    DirectoryEntry entry{name, e->d_type == DT_DIR, e->d_type == DT_LNK, e->d_type == DT_REG};
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        entry.is_directory = S_ISDIR(st.st_mode);
        entry.is_symlink = S_ISLNK(st.st_mode);
        entry.is_regular = S_ISREG(st.st_mode);
      }
    }
    entries.push_back(std::move(entry));
  }
  ::closedir(dir);
  std::sort(entries.begin(), entries.end(),
            [](const DirectoryEntry & a, const DirectoryEntry & b) { return a.name < b.name; });
  return entries;
}

Expected<Workspace> Workspace::subfolder(const std::string & relative_path) const {
  auto fd = open_beneath(relative_path, O_PATH | O_DIRECTORY);
  if (!fd) return fd.status();
  // The folder was reached beneath the root; its real path is what the kernel says it is.
  char buffer[PATH_MAX];
  std::string proc = "/proc/self/fd/" + std::to_string(fd->get());
  ssize_t n = ::readlink(proc.c_str(), buffer, sizeof buffer - 1);
  if (n < 0) return errno_status(relative_path, errno);
  std::string real(buffer, static_cast<size_t>(n));
  return Workspace(real, absolute(relative_path), std::move(*fd));
}

}  // namespace m1::tools
