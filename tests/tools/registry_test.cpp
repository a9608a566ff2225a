// The registry: lookup, the errors a wrong call gets, cancellation, and concurrent calls.
#include "tools/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace m1::tools;

namespace {

// Echoes its argument back; counts calls; throws when asked to.
class EchoTool : public Tool {
public:
  explicit EchoTool(std::string name = "echo")
      : spec_{std::move(name), "Echoes text", Json::parse(R"({"type": "object",
          "properties": {"text": {"type": "string"}, "repeat": {"type": "integer", "minimum": 1}, "fail": {"type": "boolean"}},
          "required": ["text"], "additionalProperties": false})")} {}
  const ToolSpec & spec() const override { return spec_; }
  ToolResult call(const Json & arguments, const ToolContext &) override {
    ++calls;
    if (arguments.value("fail", false)) throw std::runtime_error("boom");
    std::string out;
    for (int i = 0; i < arguments.value("repeat", 1); ++i) out += arguments["text"].get<std::string>();
    last_arguments = arguments.dump();
    return ToolResult::success(out);
  }
  void end_session(const std::string & id) override { ended = id; }
  std::atomic<int> calls{0};
  std::string last_arguments, ended;

private:
  ToolSpec spec_;
};

struct Fixture {
  ToolRegistry registry;
  EchoTool * echo;
  Fixture() {
    auto tool = std::make_unique<EchoTool>();
    echo = tool.get();
    EXPECT_TRUE(registry.add(std::move(tool)).ok());
    EXPECT_TRUE(registry.add(std::make_unique<EchoTool>("other")).ok());
  }
};

}  // namespace

TEST(ToolRegistry, CallsTheNamedTool) {
  Fixture f;
  ToolResult result = f.registry.call("echo", Json::parse(R"({"text": "ab", "repeat": 2})"), ToolContext{});
  EXPECT_FALSE(result.is_error);
  EXPECT_EQ(result.text, "abab");
}

TEST(ToolRegistry, UnknownToolListsTheAvailableOnes) {
  Fixture f;
  ToolResult result = f.registry.call("ech", Json::object(), ToolContext{});
  EXPECT_TRUE(result.is_error);
  EXPECT_EQ(result.text, "unknown tool \"ech\"; available tools: echo, other");
  EXPECT_EQ(f.echo->calls, 0);
}

TEST(ToolRegistry, InvalidArgumentsAreRejectedBeforeTheToolRuns) {
  Fixture f;
  ToolResult result = f.registry.call("echo", Json::parse(R"({"text": 1, "colour": "red"})"), ToolContext{});
  EXPECT_TRUE(result.is_error);
  EXPECT_EQ(result.text,
            "invalid arguments for tool echo:\n- arguments.text: expected string, got number 1\n"
            "- arguments: unexpected property \"colour\" (allowed: text, repeat, fail)");
  EXPECT_EQ(f.echo->calls, 0);
}

TEST(ToolRegistry, ArgumentsThatAreNotJsonGetAParseError) {
  Fixture f;
  ToolResult result = f.registry.call_text("echo", R"({"text": "a",)", ToolContext{});
  EXPECT_TRUE(result.is_error);
  EXPECT_EQ(result.text.rfind("arguments for tool echo are not valid JSON (", 0), 0u) << result.text;
  EXPECT_TRUE(f.registry.call_text("echo", R"({"text": "a"})", ToolContext{}).text == "a");
}

TEST(ToolRegistry, NullOptionalArgumentsCountAsAbsent) {
  Fixture f;
  ToolResult result = f.registry.call("echo", Json::parse(R"({"text": "a", "repeat": null})"), ToolContext{});
  EXPECT_FALSE(result.is_error) << result.text;
  EXPECT_EQ(f.echo->last_arguments, R"({"text":"a"})");
  // A required argument given as null is still an error.
  EXPECT_EQ(f.registry.call("echo", Json::parse(R"({"text": null})"), ToolContext{}).text,
            "invalid arguments for tool echo:\n- arguments.text: expected string, got null");
}

TEST(ToolRegistry, RejectsDuplicateAndMalformedNames) {
  Fixture f;
  EXPECT_EQ(f.registry.add(std::make_unique<EchoTool>()).message(),
            "tool \"echo\": a tool with this name is already registered");
  EXPECT_EQ(f.registry.add(std::make_unique<EchoTool>("has space")).message(),
            "tool name \"has space\": use 1-64 letters, digits, '_' or '-'");
}

TEST(ToolRegistry, FunctionListKeepsRegistrationOrder) {
  Fixture f;
  Json list = f.registry.function_list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["function"]["name"], "echo");
  EXPECT_EQ(list[1]["function"]["name"], "other");
  EXPECT_EQ(list[0]["type"], "function");
  EXPECT_EQ(list[0]["function"]["parameters"]["required"][0], "text");
}

TEST(ToolRegistry, CancelledContextDoesNotStartTheTool) {
  Fixture f;
  std::atomic<bool> cancel{true};
  ToolContext context;
  context.cancel = &cancel;
  ToolResult result = f.registry.call("echo", Json::parse(R"({"text": "a"})"), context);
  EXPECT_TRUE(result.is_error);
  EXPECT_EQ(result.text, "tool echo was cancelled before it started");
  EXPECT_EQ(f.echo->calls, 0);
}

TEST(ToolRegistry, AThrowingToolBecomesAnErrorResult) {
  Fixture f;
  ToolResult result = f.registry.call("echo", Json::parse(R"({"text": "a", "fail": true})"), ToolContext{});
  EXPECT_TRUE(result.is_error);
  EXPECT_EQ(result.text, "tool echo failed with an internal error: boom");
}

TEST(ToolRegistry, EndSessionReachesEveryTool) {
  Fixture f;
  f.registry.end_session("s1");
  EXPECT_EQ(f.echo->ended, "s1");
}

TEST(ToolRegistry, ConcurrentCallsAllComplete) {
  Fixture f;
  std::atomic<int> correct{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string text = std::to_string(t * 1000 + i);
        ToolResult r = f.registry.call("echo", Json{{"text", text}}, ToolContext{});
        if (!r.is_error && r.text == text) ++correct;
      }
    });
  for (auto & thread : threads) thread.join();
  EXPECT_EQ(correct, 1600);
  EXPECT_EQ(f.echo->calls, 1600);
}
