// What bash and python share: the environment a command gets in the sandbox, the spill of its
// full output into the scratch folder, and the result the model reads (output truncated head +
// tail, then one status line such as "[exit code 0]").
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "tools/output_truncation.h"
#include "tools/scratch_folder.h"
#include "tools/tool.h"
#include "tools/workspace.h"

namespace m1::tools {

struct CommandSettings {
  bool allow_network = false;
  size_t memory_bytes = 0;                      // 0 = the sandbox's default (no limit)
  int max_processes = 256;
  size_t max_spill_bytes = size_t(256) << 20;   // the full-output file stops growing here
  TruncationLimits truncation;                  // what the model reads
};

constexpr int kDefaultTimeoutSeconds = 120;
constexpr int kMaxTimeoutSeconds = 600;

// PATH (the host's, so the same tools are found), HOME=/tmp (the sandbox's private tmpfs), a UTF-8
// locale, and pagers off so that no command waits for a key.
std::vector<std::string> sandbox_environment();

// A command's merged output: written to a scratch file as it arrives (up to a cap) and kept in
// bounded memory for the head + tail the model reads.
class OutputSpill {
public:
  static Expected<OutputSpill> create(const ScratchFolder & scratch, const std::string & prefix, size_t max_bytes);
  OutputSpill(OutputSpill &&) = default;
  void append(std::string_view bytes);
  // The text for the model. The file is removed when nothing was dropped (the text is complete).
  TruncatedOutput finish(const TruncationLimits & limits);
  const std::string & path() const { return shown_path_; }
  size_t total_bytes() const { return collector_.total_bytes(); }

private:
  OutputSpill(const ScratchFolder & scratch, std::string name, UniqueFd fd, size_t max_bytes);
  const Workspace * folder_;
  std::string name_, shown_path_;
  UniqueFd fd_;
  size_t max_bytes_, written_ = 0;
  OutputCollector collector_;
};

// How a command ended, as the sandbox or the shell reported it.
struct CommandEnd {
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  bool cancelled = false;
  std::string limit;         // a resource limit that stopped it ("memory", ...), if any
  std::string extra_note;    // e.g. "the shell exited; the next call starts a new one"
  double wall_seconds = 0;
  double timeout_seconds = 0;
};

ToolResult command_result(const TruncatedOutput & output, const OutputSpill & spill, const CommandEnd & end);

// The timeout argument, defaulted and checked (the schema bounds it too).
double timeout_argument(const Json & arguments);

}  // namespace m1::tools
