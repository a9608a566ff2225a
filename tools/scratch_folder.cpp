// Opening (and creating) the scratch folder without leaving the workspace's confinement.
#include "tools/scratch_folder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace m1::tools {

namespace {

// mkdir -p for a scratch folder the operator configured outside the workspace (a trusted path).
Status make_host_directories(const std::string & path) {
  for (size_t slash = path.find('/', 1); ; slash = path.find('/', slash + 1)) {
    std::string prefix = slash == std::string::npos ? path : path.substr(0, slash);
    if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST)
      return Status::error("scratch folder " + prefix + ": " + std::strerror(errno));
    if (slash == std::string::npos) return Status();
  }
}

}  // namespace

Expected<ScratchFolder> open_scratch_folder(const Workspace & workspace, const ToolContext & context) {
  std::string scratch = context.scratch();
  bool inside = scratch[0] != '/' || workspace.relative(scratch).ok();
  if (inside) {
    auto relative = workspace.relative(scratch);
    if (!relative) return relative.status();
    Status made = workspace.make_directories(*relative);
    if (!made.ok()) return made.with_context("scratch folder");
    auto folder = workspace.subfolder(*relative);
    if (!folder) return folder.status().with_context("scratch folder");
    return ScratchFolder{std::move(*folder), workspace.absolute(*relative) + "/"};
  }
  M1_RETURN_IF_ERROR(make_host_directories(scratch));
  auto folder = Workspace::open(scratch);
  if (!folder) return folder.status();
  std::string shown = folder->root() + "/";
  return ScratchFolder{std::move(*folder), shown};
}

std::string unique_scratch_name(const std::string & prefix, const std::string & suffix) {
  static std::atomic<unsigned> counter{0};
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  return prefix + "-" + stamp + "-" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1)) + suffix;
}

}  // namespace m1::tools
