// Shared plumbing of the command tools: environment, output spill, result text.
#include "tools/sandboxed_command.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cstdlib>

namespace m1::tools {

std::vector<std::string> sandbox_environment() {
  const char * host_path = std::getenv("PATH");
  std::string path = host_path && *host_path ? host_path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  return {"PATH=" + path, "HOME=/tmp", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=dumb", "PAGER=cat", "GIT_PAGER=cat",
          "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"};
}

OutputSpill::OutputSpill(const ScratchFolder & scratch, std::string name, UniqueFd fd, size_t max_bytes)
    : folder_(&scratch.folder), name_(std::move(name)), shown_path_(scratch.shown_prefix + name_),
      fd_(std::move(fd)), max_bytes_(max_bytes) {}

Expected<OutputSpill> OutputSpill::create(const ScratchFolder & scratch, const std::string & prefix, size_t max_bytes) {
  std::string name = unique_scratch_name(prefix, ".out");
  auto fd = scratch.folder.open_beneath(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
  if (!fd) return fd.status().with_context("output file in the scratch folder");
  return OutputSpill(scratch, name, std::move(*fd), max_bytes);
}

void OutputSpill::append(std::string_view bytes) {
  collector_.append(bytes);
  if (!fd_.valid() || written_ >= max_bytes_) return;
  std::string_view part = bytes.substr(0, max_bytes_ - written_);
  while (!part.empty()) {
    ssize_t n = ::write(fd_.get(), part.data(), part.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // disk full or similar: the model still gets head and tail
      fd_ = UniqueFd();
      return;
    }
    part.remove_prefix(static_cast<size_t>(n));
    written_ += static_cast<size_t>(n);
  }
}

TruncatedOutput OutputSpill::finish(const TruncationLimits & limits) {
  fd_ = UniqueFd();
  std::string where = shown_path_;
  if (written_ < collector_.total_bytes()) where += " (its first " + std::to_string(written_) + " bytes)";
  TruncatedOutput out = collector_.finish(limits, where);
  if (!out.truncated) (void)folder_->remove_file(name_);
  return out;
}

double timeout_argument(const Json & arguments) {
  double timeout = arguments.value("timeout", static_cast<double>(kDefaultTimeoutSeconds));
  if (timeout <= 0) timeout = kDefaultTimeoutSeconds;
  return std::min<double>(timeout, kMaxTimeoutSeconds);
}

namespace {

std::string signal_text(int number) {
  const char * abbreviation = sigabbrev_np(number);
  return "signal " + std::to_string(number) + (abbreviation ? std::string(" (SIG") + abbreviation + ")" : "");
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

}  // namespace

ToolResult command_result(const TruncatedOutput & output, const OutputSpill & spill, const CommandEnd & end) {
  std::string text = output.text;
  if (text.empty()) text = "(no output)\n";
  else if (text.back() != '\n') text += '\n';
  bool failed = false;
  if (end.cancelled) {
    text += "[cancelled; the command was killed]";
    failed = true;
  } else if (end.timed_out) {
    text += "[timed out after " + seconds_text(end.timeout_seconds) + " s; the command was killed. Run long jobs in "
            "the background (cmd > log 2>&1 &) or raise timeout (at most " + std::to_string(kMaxTimeoutSeconds) + ")]";
    failed = true;
  } else if (end.signal) {
    text += "[killed by " + signal_text(end.signal) + (end.limit.empty() ? "" : ": " + end.limit + " limit reached") + "]";
  } else {
    text += "[exit code " + std::to_string(end.exit_code) + "]";
  }
  if (!end.extra_note.empty()) text += "\n[" + end.extra_note + "]";
  ToolResult result{text, failed, Json::object()};
  result.metadata["exit_code"] = end.exit_code;
  result.metadata["signal"] = end.signal;
  result.metadata["timed_out"] = end.timed_out;
  result.metadata["wall_seconds"] = end.wall_seconds;
  result.metadata["output_bytes"] = spill.total_bytes();
  if (output.truncated) result.metadata["output_file"] = spill.path();
  return result;
}

}  // namespace m1::tools
