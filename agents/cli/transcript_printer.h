// How `m1 agent` shows a run: the transcript as it streams (reasoning dimmed, tool calls, tool
// output, the answer; ANSI styling only on a terminal), or with --json one JSON object per line
// for every event and every streamed piece of output.
#pragma once

#include <cstdio>
#include <string>

#include "agents/agent_loop.h"
#include "agents/event_log.h"

namespace m1::cli {

class TranscriptPrinter : public agents::LoopObserver {
public:
  TranscriptPrinter(std::FILE * out, bool styled) : out_(out), styled_(styled) {}
  void on_event(const agents::Event & event) override;
  void on_output(const agents::OutputDelta & delta) override;
  // "turns 3, tokens in 1204 / out 310 / reused 5120, 0.4 s: answered"
  void print_summary(const agents::LoopResult & result, const std::string & session_id);

private:
  void begin_line();
  std::string style(const char * code, const std::string & text) const;
  void print_tool_result(const agents::Json & payload);

  std::FILE * out_;
  bool styled_;
  bool at_line_start_ = true;
  agents::OutputDelta::Kind last_kind_ = agents::OutputDelta::Kind::text;
  bool streaming_ = false;  // inside a streamed model output
};

class JsonLinesPrinter : public agents::LoopObserver {
public:
  explicit JsonLinesPrinter(std::FILE * out) : out_(out) {}
  void on_event(const agents::Event & event) override;
  void on_output(const agents::OutputDelta & delta) override;
  void print_summary(const agents::LoopResult & result, const std::string & session_id);

private:
  void print(const agents::Json & json);
  std::FILE * out_;
};

}  // namespace m1::cli
