// The model-output parser: each output's expected reasoning / content / calls / errors (written
// from M1_SPEC.md section 8), and the streaming invariant: fed in any pieces (every split into two,
// byte by byte, random splits) it yields the same events (up to how deltas are cut) and the same
// result as the whole text.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "model/tool_call_parser.h"

namespace m1 {
namespace {

using Kind = OutputErrorKind;
using json = nlohmann::ordered_json;

struct Case {
  const char * name;
  std::string text;
  std::string reasoning, content;
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments as JSON text
  std::vector<Kind> errors;
};

const std::string kRead = R"({"name": "read_file", "arguments": {"path": "a.txt"}})";
const std::string kSearch = R"({"name": "search_web", "arguments": {"query": "x"}})";

std::vector<Case> cases() {
  return {
      {"well_formed",
       "<think>\nreason\n</think>\n<tool_calls>\n" + kSearch + "\n</tool_calls>",
       "reason",
       "",
       {{"search_web", R"({"query": "x"})"}},
       {}},
      {"several_calls_text_around",
       "<think>\nr\n</think>\nBefore.\n<tool_calls>\n" + kRead + "\n" + kSearch + "\n</tool_calls>\nAfter.\n",
       "r",
       "Before.\n\nAfter.",
       {{"read_file", R"({"path": "a.txt"})"}, {"search_web", R"({"query": "x"})"}},
       {}},
      {"calls_inside_reasoning_are_not_calls",
       "<think>\nmaybe <tool_calls>\n" + kRead + "\n</tool_calls>\n</think>\nNo calls.",
       "maybe <tool_calls>\n" + kRead + "\n</tool_calls>",
       "No calls.",
       {},
       {}},
      {"invalid_json_line_among_valid",
       "<tool_calls>\n" + kRead + "\n{\"name\": \"x\", \"arguments\": {\n" + kSearch + "\n</tool_calls>",
       "",
       "",
       {{"read_file", R"({"path": "a.txt"})"}, {"search_web", R"({"query": "x"})"}},
       {Kind::invalid_json}},
      {"missing_name_or_arguments",
       "<tool_calls>\n{\"arguments\": {}}\n{\"name\": \"x\"}\n{\"name\": 3, \"arguments\": "
       "{}}\n</tool_calls>",
       "",
       "",
       {},
       {Kind::missing_name, Kind::missing_arguments, Kind::missing_name}},
      {"arguments_as_json_string",
       "<tool_calls>\n{\"name\": \"x\", \"arguments\": \"{\\\"a\\\": 1}\"}\n{\"name\": \"y\", \"arguments\": "
       "\"[1]\"}\n"
       "{\"name\": \"z\", \"arguments\": 5}\n</tool_calls>",
       "",
       "",
       {{"x", R"({"a": 1})"}},
       {Kind::arguments_not_object, Kind::arguments_not_object}},
      {"unterminated_block_partial_line",
       "Doing it.\n<tool_calls>\n" + kRead + "\n{\"name\": \"y\", \"argu",
       "",
       "Doing it.",
       {{"read_file", R"({"path": "a.txt"})"}},
       {Kind::invalid_json, Kind::unterminated_block}},
      {"unterminated_block_complete_line",
       "<tool_calls>\n" + kRead,
       "",
       "",
       {{"read_file", R"({"path": "a.txt"})"}},
       {Kind::unterminated_block}},
      {"unicode_arguments",
       "<tool_calls>\n{\"name\": \"write\", \"arguments\": {\"text\": \"h\xC3\xA9llo "
       "\xE4\xB8\x96\xE7\x95\x8C "
       "\xF0\x9F\x98\x80 \\u00e9\"}}\n</tool_calls>",
       "",
       "",
       {{"write", "{\"text\": \"h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80 \xC3\xA9\"}"}},
       {}},
      {"nested_braces_escaped_quotes_and_closing_tag_in_string",
       "<tool_calls>\n{\"name\": \"edit\", \"arguments\": {\"code\": \"if (a) { b(\\\"}\\\"); } "
       "</tool_calls> "
       "<end_of_sentence>\", \"nested\": {\"a\": [1, {\"b\": \"}}\"}]}}}\n</tool_calls>\nDone.",
       "",
       "Done.",
       {{"edit",
         R"({"code": "if (a) { b(\"}\"); } </tool_calls> <end_of_sentence>", "nested": {"a": [1, {"b": "}}"}]}})"}},
       {}},
      {"plain_answer", "\n\nJust text.\n", "", "Just text.", {}, {}},
      {"unterminated_reasoning",
       "<think>\nstill thinking\n",
       "still thinking",
       "",
       {},
       {Kind::unterminated_reasoning}},
      {"tag_lookalikes_are_text",
       "a <tool b </think> <thinker> <tool_callsX> <<think> <",
       "",
       "a <tool b </think> <thinker> <tool_callsX> <<think> <",
       {},
       {}},
      {"end_of_sentence_stops",
       "<think>r</think>Answer<end_of_sentence>ignored <tool_calls>\n" + kRead,
       "r",
       "Answer",
       {},
       {}},
      {"crlf_lines",
       "<tool_calls>\r\n" + kRead + "\r\n</tool_calls>",
       "",
       "",
       {{"read_file", R"({"path": "a.txt"})"}},
       {}},
      {"not_an_object",
       "<tool_calls>\n[1, 2]\n\"name\"\n</tool_calls>",
       "",
       "",
       {},
       {Kind::not_an_object, Kind::not_an_object}},
      {"blank_before_think", " \n<think>r</think>ok", "r", "ok", {}, {}},
      {"closing_tag_on_the_call_line",
       "<tool_calls>\n" + kRead + "</tool_calls>",
       "",
       "",
       {{"read_file", R"({"path": "a.txt"})"}},
       {}},
      {"empty_output", "", "", "", {}, {}},
      {"invalid_utf8",
       "caf\xC3 ok\n<tool_calls>\n{\"name\": \"x\", \"arguments\": {\"a\": \"\xFF\"}}\n</tool_calls>",
       "",
       "caf\xC3 ok",
       {},
       {Kind::invalid_json}},
      {"name_after_arguments",
       "<tool_calls>\n{\"arguments\": {\"k\": [1, 2]}, \"name\": \"late\"}\n</tool_calls>",
       "",
       "",
       {{"late", R"({"k": [1, 2]})"}},
       {}},
      {"empty_reasoning_two_blocks",
       "<think>\n\n</think>\n\n<tool_calls>\n" + kRead + "\n</tool_calls>\n<tool_calls>\n" + kSearch +
           "\n</tool_calls>",
       "",
       "",
       {{"read_file", R"({"path": "a.txt"})"}, {"search_web", R"({"query": "x"})"}},
       {}},
  };
}

// Events with consecutive deltas of one kind and call joined: what must not depend on the cuts.
std::vector<OutputEvent> normalized(const std::vector<OutputEvent> & events) {
  std::vector<OutputEvent> out;
  for (const OutputEvent & e : events) {
    bool delta = e.kind == OutputEvent::Kind::reasoning_delta || e.kind == OutputEvent::Kind::text_delta ||
                 e.kind == OutputEvent::Kind::arguments_delta;
    if (delta && !out.empty() && out.back().kind == e.kind && out.back().call_index == e.call_index) {
      out.back().text += e.text;
    } else {
      out.push_back(e);
    }
  }
  return out;
}

std::string describe(const std::vector<OutputEvent> & events) {
  std::string text;
  for (const OutputEvent & e : events) {
    text += std::to_string(int(e.kind)) + "/" + std::to_string(e.call_index) + ":" + e.text;
    if (e.call)
      text += " call " + e.call->name + " " + e.call->arguments.dump() + " #" + std::to_string(e.call->index);
    if (e.error) text += " error " + std::string(to_string(e.error->kind)) + " " + e.error->message;
    text += "\n";
  }
  return text;
}

std::pair<std::string, std::string> run_pieces(const std::string & text, const std::vector<size_t> & cuts,
                                               ParsedOutput & result) {
  OutputParser parser;
  std::vector<OutputEvent> events;
  size_t pos = 0;
  for (size_t cut : cuts) {
    for (OutputEvent & e : parser.feed(std::string_view(text).substr(pos, cut - pos)))
      events.push_back(std::move(e));
    pos = cut;
  }
  for (OutputEvent & e : parser.feed(std::string_view(text).substr(pos))) events.push_back(std::move(e));
  for (OutputEvent & e : parser.finish()) events.push_back(std::move(e));
  result = parser.result();
  return {describe(normalized(events)),
          result.to_json().dump(-1, ' ', false, json::error_handler_t::replace)};
}

void expect_same_for_splits(const std::string & text, const std::string & label) {
  ParsedOutput whole_result;
  auto whole = run_pieces(text, {}, whole_result);
  for (size_t cut = 1; cut < text.size(); ++cut) {
    ParsedOutput r;
    ASSERT_EQ(run_pieces(text, {cut}, r), whole) << label << ": split at " << cut;
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < text.size(); ++i) every.push_back(i);
  ParsedOutput r;
  ASSERT_EQ(run_pieces(text, every, r), whole) << label << ": byte by byte";
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<size_t> cuts;
    for (size_t pos = 0;;) {
      pos += 1 + rng() % 7;
      if (pos >= text.size()) break;
      cuts.push_back(pos);
    }
    ASSERT_EQ(run_pieces(text, cuts, r), whole) << label << ": random split " << trial;
  }
}

TEST(ToolCallParser, ParsesEachOutputAsTheSpecSays) {
  for (const Case & c : cases()) {
    ParsedOutput out = parse_output(c.text);
    EXPECT_EQ(out.reasoning, c.reasoning) << c.name;
    EXPECT_EQ(out.content, c.content) << c.name;
    ASSERT_EQ(out.tool_calls.size(), c.calls.size()) << c.name;
    for (size_t i = 0; i < c.calls.size(); ++i) {
      EXPECT_EQ(out.tool_calls[i].name, c.calls[i].first) << c.name;
      EXPECT_EQ(out.tool_calls[i].arguments, json::parse(c.calls[i].second)) << c.name;
    }
    ASSERT_EQ(out.errors.size(), c.errors.size()) << c.name << ": " << out.to_json().dump();
    for (size_t i = 0; i < c.errors.size(); ++i) {
      EXPECT_EQ(out.errors[i].kind, c.errors[i]) << c.name << " error " << i;
      EXPECT_FALSE(out.errors[i].message.empty());
    }
  }
}

TEST(ToolCallParser, ErrorsNameTheCallAndKeepTheOthers) {
  ParsedOutput out = parse_output("<tool_calls>\n" + kRead + "\n{oops}\n" + kSearch + "\n</tool_calls>");
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(out.tool_calls[0].index, 0u);
  EXPECT_EQ(out.tool_calls[1].index, 2u);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].call_index, 1u);
  EXPECT_NE(out.errors[0].message.find("Tool call 2"), std::string::npos);
  EXPECT_NE(out.errors[0].message.find("{oops}"), std::string::npos);
}

TEST(ToolCallParser, StreamingEqualsWholeForEverySplit) {
  for (const Case & c : cases()) expect_same_for_splits(c.text, c.name);
}

TEST(ToolCallParser, StreamedCallsAreAnnouncedThenCompletedWithTheirArguments) {
  for (const Case & c : cases()) {
    OutputParser parser;
    std::vector<OutputEvent> events;
    for (char ch : c.text)
      for (OutputEvent & e : parser.feed(std::string_view(&ch, 1))) events.push_back(std::move(e));
    for (OutputEvent & e : parser.finish()) events.push_back(std::move(e));
    std::map<size_t, std::string> started, arguments;
    size_t n_done = 0;
    for (const OutputEvent & e : events) {
      if (e.kind == OutputEvent::Kind::tool_call_start) started[e.call_index] = e.text;
      if (e.kind == OutputEvent::Kind::arguments_delta) {
        EXPECT_TRUE(started.count(e.call_index)) << c.name << ": arguments before the start";
        arguments[e.call_index] += e.text;
      }
      if (e.kind == OutputEvent::Kind::tool_call_done) {
        ++n_done;
        ASSERT_TRUE(e.call.has_value());
        EXPECT_EQ(started[e.call_index], e.call->name) << c.name;
        json raw = json::parse(arguments[e.call_index]);  // the value as written
        if (raw.is_string()) raw = json::parse(raw.get<std::string>());
        EXPECT_EQ(raw, e.call->arguments) << c.name;
      }
    }
    EXPECT_EQ(n_done, c.calls.size()) << c.name;
  }
}

TEST(ToolCallParser, RandomGarbageNeverCrashesAndStreamsAlike) {
  const std::vector<std::string> fragments = {"<think>",
                                              "</think>",
                                              "<tool_calls>",
                                              "</tool_calls>",
                                              "\n",
                                              "{",
                                              "}",
                                              "\"",
                                              "\\",
                                              "\"name\"",
                                              "\"arguments\"",
                                              ": ",
                                              ", ",
                                              " ",
                                              "\xC3\xA9",
                                              "\xE4",
                                              "<",
                                              ">",
                                              "x",
                                              "<end_of_sentence>",
                                              kRead,
                                              "[",
                                              "\r\n",
                                              "</tool",
                                              "<think"};
  std::mt19937 rng(7);
  for (int i = 0; i < 150; ++i) {
    std::string text;
    for (int n = 1 + int(rng() % 30); n > 0; --n) text += fragments[rng() % fragments.size()];
    ParsedOutput whole = parse_output(text);
    ParsedOutput pieces;
    std::vector<size_t> cuts;
    for (size_t pos = 0;;) {
      pos += 1 + rng() % 5;
      if (pos >= text.size()) break;
      cuts.push_back(pos);
    }
    ParsedOutput r;
    EXPECT_EQ(run_pieces(text, cuts, r), run_pieces(text, {}, pieces)) << text;
  }
}

}  // namespace
}  // namespace m1
