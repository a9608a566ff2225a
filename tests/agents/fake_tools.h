// Test support: a ToolRunner with a few deterministic tools, for loop tests that must not depend
// on the sandbox. echo {text} returns text; fail {why} always fails; big {bytes} returns that many
// bytes; slow {} prints "tick" lines until cancelled (tells `on_slow_start` when it begins).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agents/tool_runner.h"

namespace m1::test {

using agents::Json;
using agents::ToolCall;
using agents::ToolOutcome;

class FakeTools : public agents::ToolRunner {
public:
  std::function<void()> on_slow_start;
  std::vector<ToolCall> ran;  // every call run, in order

  Json prompt_tools() const override {
    auto tool = [](const char * name, const char * description, Json properties, Json required) {
      return Json{{"name", name}, {"description", description},
                  {"parameters", {{"type", "object"}, {"properties", properties}, {"required", required}}}};
    };
    return Json::array({tool("echo", "Returns its text.", {{"text", {{"type", "string"}}}}, {"text"}),
                        tool("fail", "Always fails.", {{"why", {{"type", "string"}}}}, Json::array()),
                        tool("big", "Returns bytes.", {{"bytes", {{"type", "integer"}}}}, {"bytes"}),
                        tool("slow", "Runs until cancelled.", Json::object(), Json::array())});
  }

  std::vector<std::string> check(const ToolCall & call) const override {
    for (const Json & tool : prompt_tools()) {
      if (tool["name"] != call.name) continue;
      std::vector<std::string> problems;
      for (const Json & field : tool["parameters"]["required"])
        if (!call.arguments.contains(field.get<std::string>()))
          problems.push_back("arguments." + field.get<std::string>() + ": required");
      for (auto & [key, schema] : tool["parameters"]["properties"].items()) {
        if (!call.arguments.contains(key)) continue;
        const Json & value = call.arguments[key];
        bool ok = schema["type"] == "string" ? value.is_string() : value.is_number_integer();
        if (!ok) problems.push_back("arguments." + key + ": expected " + schema["type"].get<std::string>());
      }
      return problems;
    }
    return {"unknown tool '" + call.name + "' (tools: echo, fail, big, slow)"};
  }

  ToolOutcome run(const ToolCall & call, const std::atomic<bool> & cancel) override {
    {
      std::lock_guard lock(mutex_);
      ran.push_back(call);
    }
    if (call.name == "echo") return {call.name, call.arguments["text"].get<std::string>(), false, false};
    if (call.name == "fail") return {call.name, "it failed: " + call.arguments.value("why", std::string("always")), true, false};
    if (call.name == "big") return {call.name, std::string(call.arguments["bytes"].get<size_t>(), 'x'), false, false};
    std::string out;
    if (on_slow_start) on_slow_start();
    for (int i = 0; i < 10000 && !cancel; ++i) {
      out += "tick\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return {call.name, out, false, false};
  }

private:
  std::mutex mutex_;
};

// An assistant output calling one tool, in M1's format.
inline std::string call_output(const std::string & name, const Json & arguments, const std::string & reasoning = "") {
  std::string out = reasoning.empty() ? "" : "<think>\n" + reasoning + "\n</think>\n";
  return out + "<tool_calls>\n" + Json{{"name", name}, {"arguments", arguments}}.dump() + "\n</tool_calls>";
}

}  // namespace m1::test
