// The prompt format against the official template: every case of m1_reference/chat-template-cases.json
// and of prompt/cases.json (rendered by transformers' jinja renderer from the official template,
// tests/reference/make_prompt_goldens.py) must render byte for byte; rendering must be append-only.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "model/prompt_format.h"
#include "model/tool_call_parser.h"

namespace m1 {
namespace {

nlohmann::ordered_json read_cases(const std::string & relative) {
  std::ifstream in(std::string(M1_TEST_DATA_DIR) + "/" + relative);
  std::ostringstream text;
  text << in.rdbuf();
  return nlohmann::ordered_json::parse(text.str())["cases"];
}

std::vector<nlohmann::ordered_json> all_cases() {
  std::vector<nlohmann::ordered_json> cases;
  for (const char * file : {"m1_reference/chat-template-cases.json", "prompt/cases.json"})
    for (const nlohmann::ordered_json & c : read_cases(file)) cases.push_back(c);
  return cases;
}

struct LoadedCase {
  std::string name;
  Conversation conversation;
  ToolList tools;
  bool generation_prompt;
  std::string expected;
};

LoadedCase load(const nlohmann::ordered_json & c) {
  Expected<Conversation> conversation = conversation_from_json(c["messages"]);
  EXPECT_TRUE(conversation.ok()) << conversation.status().message();
  Expected<ToolList> tools = tools_from_json(c.value("tools", nlohmann::ordered_json()));
  EXPECT_TRUE(tools.ok()) << tools.status().message();
  return {c["name"].get<std::string>(), *conversation, *tools, c.value("add_generation_prompt", false),
          c["expected"].get<std::string>()};
}

TEST(PromptFormat, RendersEveryCaseExactlyAsTheOfficialTemplate) {
  std::vector<nlohmann::ordered_json> cases = all_cases();
  ASSERT_GE(cases.size(), 15u);
  for (const nlohmann::ordered_json & c : cases) {
    LoadedCase loaded = load(c);
    EXPECT_EQ(render_prompt(loaded.conversation, loaded.tools, loaded.generation_prompt), loaded.expected)
        << loaded.name;
  }
}

TEST(PromptFormat, RenderingIsAppendOnlyAndSuffixesAddUp) {
  for (const nlohmann::ordered_json & c : all_cases()) {
    LoadedCase loaded = load(c);
    const Conversation & all = loaded.conversation;
    std::string whole = render_prompt(all, loaded.tools, loaded.generation_prompt);
    for (size_t k = 0; k <= all.size(); ++k) {
      Conversation head(all.begin(), all.begin() + long(k));
      std::string prefix =
          k == 0 ? std::string() : render_prompt(head, loaded.tools, false);  // 0: nothing rendered yet
      Expected<std::string> suffix = render_suffix(all, k, loaded.tools, loaded.generation_prompt);
      bool later_system = false;
      for (size_t i = k; i < all.size(); ++i)
        later_system = later_system || (k > 0 && all[i].role == Role::system && !all[i].text.empty());
      if (later_system) {  // the template moves system text to the top: not appendable, and said so
        EXPECT_FALSE(suffix.ok()) << loaded.name << " k=" << k;
        continue;
      }
      ASSERT_TRUE(suffix.ok()) << loaded.name << ": " << suffix.status().message();
      EXPECT_EQ(prefix + *suffix, whole) << loaded.name << " k=" << k;
      EXPECT_TRUE(whole.starts_with(prefix)) << loaded.name << " k=" << k;
    }
  }
}

TEST(PromptFormat, GeneratedAssistantMessageNeedsOnlyANewline) {
  // What the runtime holds after generation: prompt + generation prompt + output + <end_of_sentence>.
  Conversation conversation = {Message::system("S"), Message::user("Hi")};
  std::string memory = render_prompt(conversation, {}, true);
  std::string output = "<think>\nhmm\n</think>\nHello.";
  memory += output + "<end_of_sentence>";
  conversation.push_back(Message::assistant(output));
  EXPECT_EQ(memory + std::string(kAfterEndOfSentence), render_prompt(conversation, {}, false));
  conversation.push_back(Message::tool({{"read_file", "x"}}));
  Expected<std::string> suffix = render_suffix(conversation, 3, {}, true);
  ASSERT_TRUE(suffix.ok());
  EXPECT_EQ(memory + std::string(kAfterEndOfSentence) + *suffix, render_prompt(conversation, {}, true));
}

TEST(PromptFormat, PythonJsonMatchesJsonDumps) {
  // Expected strings are Python 3's json.dumps(value, ensure_ascii=False) / repr(float).
  nlohmann::ordered_json value = nlohmann::ordered_json::parse(
      R"({"b": 1, "a": [1e-05, 0.0001, 1e16, 1e15, 123456789.123, 5e-324, 1.7976931348623157e+308,
          0.30000000000000004, -1.5, 100.0, 2.5e-07, 12345678901234567.0, -0.0], "s": "é\u0001\"\\\n\t\u007f", "n": null, "t": true, "o": {}, "e": []})");
  EXPECT_EQ(
      to_python_json(value),
      "{\"b\": 1, \"a\": [1e-05, 0.0001, 1e+16, 1000000000000000.0, 123456789.123, 5e-324, "
      "1.7976931348623157e+308, 0.30000000000000004, -1.5, 100.0, 2.5e-07, 1.2345678901234568e+16, -0.0], "
      "\"s\": \"\xc3\xa9\\u0001\\\"\\\\\\n\\t\x7f\", \"n\": null, \"t\": true, \"o\": {}, \"e\": []}");
}

TEST(PromptFormat, MalformedMessagesAreReportedWithTheirPlace) {
  EXPECT_FALSE(conversation_from_json(nlohmann::ordered_json::object()).ok());
  Expected<Conversation> bad_role =
      conversation_from_json(nlohmann::ordered_json::parse(R"([{"role": "robot", "content": "x"}])"));
  ASSERT_FALSE(bad_role.ok());
  EXPECT_NE(bad_role.status().message().find("messages[0]"), std::string::npos);
  Expected<Conversation> no_name = conversation_from_json(
      nlohmann::ordered_json::parse(R"([{"role": "tool", "content": [{"type": "text", "text": "r"}]}])"));
  EXPECT_FALSE(no_name.ok());
  Expected<Conversation> plain =
      conversation_from_json(nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)[0].text, "hi");
}

TEST(PromptFormat, AssistantTextRoundTripsThroughTheParser) {
  std::vector<ToolCallText> calls = {{"read_file", {{"path", "a \"b\".txt"}}},
                                     {"search", {{"q", "中文"}, {"n", 3}}}};
  std::string text = assistant_text("think\nmore", "Answer:", calls);
  ParsedOutput parsed = parse_output(text);
  EXPECT_EQ(parsed.reasoning, "think\nmore");
  EXPECT_EQ(parsed.content, "Answer:");
  ASSERT_EQ(parsed.tool_calls.size(), 2u);
  EXPECT_EQ(parsed.tool_calls[0].name, "read_file");
  EXPECT_EQ(parsed.tool_calls[0].arguments, calls[0].arguments);
  EXPECT_EQ(parsed.tool_calls[1].arguments, calls[1].arguments);
  EXPECT_TRUE(parsed.errors.empty());
}

}  // namespace
}  // namespace m1
