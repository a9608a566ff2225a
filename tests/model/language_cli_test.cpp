// Black-box tests of `m1 tokenize`, `m1 render` and `m1 parse` (DESIGN.md command-line surface):
// each against the library result it must print, plus the one-line error convention.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/prompt_format.h"
#include "model/tokenizer.h"
#include "model/tool_call_parser.h"
#include "tests/common/run_command.h"

namespace m1 {
namespace {

using test::run_command;

const std::string kBinary = M1_BINARY;
const std::string kTokenizer = std::string(M1_TEST_DATA_DIR) + "/tokenizer/gpt4o.tokenizer.json";

std::string ids_text(const std::vector<TokenId> & ids) {
  std::string text;
  for (TokenId id : ids) text += (text.empty() ? "" : " ") + std::to_string(id);
  return text + "\n";
}

TEST(LanguageCli, TokenizeEncodesAndDecodesStdin) {
  const std::string text = "Hello <end_of_sentence> w\xC3\xB6rld \xF0\x9F\x98\x80\n\ttabs";
  Expected<Tokenizer> tok = Tokenizer::load(kTokenizer);
  ASSERT_TRUE(tok.ok());
  auto encoded = run_command(kBinary + " tokenize --tokenizer " + kTokenizer, text);
  ASSERT_EQ(encoded.exit_code, 0) << encoded.err;
  EXPECT_EQ(encoded.out, ids_text(tok->encode(text)));
  auto decoded = run_command(kBinary + " tokenize --tokenizer " + kTokenizer + " --decode", encoded.out);
  ASSERT_EQ(decoded.exit_code, 0) << decoded.err;
  EXPECT_EQ(decoded.out, text);
  // A model directory holding the vocab.json + merges.txt pair.
  std::string dir = testing::TempDir() + "m1_tokenize_dir";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(std::string(M1_TEST_DATA_DIR) + "/tokenizer/gpt2.vocab.json",
                             dir + "/vocab.json", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(std::string(M1_TEST_DATA_DIR) + "/tokenizer/gpt2.merges.txt",
                             dir + "/merges.txt", std::filesystem::copy_options::overwrite_existing);
  Expected<Tokenizer> gpt2 =
      Tokenizer::load(std::string(M1_TEST_DATA_DIR) + "/tokenizer/gpt2.tokenizer.json");
  ASSERT_TRUE(gpt2.ok());
  auto from_dir = run_command(kBinary + " tokenize --model " + dir, text);
  ASSERT_EQ(from_dir.exit_code, 0) << from_dir.err;
  EXPECT_EQ(from_dir.out, ids_text(gpt2->encode(text)));
}

TEST(LanguageCli, TokenizeErrorsAreOneLine) {
  auto bad_id = run_command(kBinary + " tokenize --tokenizer " + kTokenizer + " --decode", "12 x3");
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_EQ(bad_id.err, "m1: tokenize: stdin: \"x3\" is not a token id\n");
  auto unknown = run_command(kBinary + " tokenize --tokenizer " + kTokenizer + " --decode", "999999");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err.rfind("m1: tokenize: stdin: id 999999 is not in the vocabulary", 0), 0u)
      << unknown.err;
  auto missing = run_command(kBinary + " tokenize --model /nonexistent/dir", "");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.rfind("m1: tokenize: /nonexistent/dir", 0), 0u) << missing.err;
}

TEST(LanguageCli, RenderPrintsTheExpectedPromptOfEachSharedCase) {
  std::ifstream in(std::string(M1_TEST_DATA_DIR) + "/m1_reference/chat-template-cases.json");
  nlohmann::ordered_json cases = nlohmann::ordered_json::parse(in)["cases"];
  std::string dir = testing::TempDir();
  for (const nlohmann::ordered_json & c : cases) {
    std::ofstream(dir + "messages.json") << c["messages"].dump();
    std::ofstream(dir + "tools.json") << c.value("tools", nlohmann::ordered_json::array()).dump();
    std::string command =
        kBinary + " render --messages " + dir + "messages.json --tools " + dir + "tools.json";
    if (c.value("add_generation_prompt", false)) command += " --generation-prompt";
    auto r = run_command(command);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, c["expected"].get<std::string>()) << c["name"];
    std::ofstream(dir + "case.json") << c.dump();  // a whole case object works as well
    auto whole = run_command(kBinary + " render --messages " + dir + "case.json");
    EXPECT_EQ(whole.out, c["expected"].get<std::string>()) << c["name"];
  }
  std::ofstream(dir + "bad.json") << R"([{"role": "robot", "content": "x"}])";
  auto bad = run_command(kBinary + " render --messages " + dir + "bad.json");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err.rfind("m1: render: " + dir + "bad.json: messages[0]: role \"robot\"", 0), 0u) << bad.err;
}

TEST(LanguageCli, ParsePrintsTheParserResultForAnyChunkSize) {
  const std::string output =
      "<think>\nplan\n</think>\nReading.\n<tool_calls>\n"
      "{\"name\": \"read_file\", \"arguments\": {\"path\": \"\xC3\xA9.txt\"}}\n{\"name\": "
      "\"x\"\n</tool_calls>";
  std::string expected = parse_output(output).to_json().dump() + "\n";
  for (const char * chunk : {"", " --chunk 1", " --chunk 3", " --chunk 1000"}) {
    auto r = run_command(kBinary + " parse" + chunk, output);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, expected) << chunk;
  }
  nlohmann::json printed = nlohmann::json::parse(expected);
  EXPECT_EQ(printed["tool_calls"].size(), 1u);
  EXPECT_EQ(printed["errors"][0]["kind"], "invalid_json");  // the second line never closes its object
}

}  // namespace
}  // namespace m1
