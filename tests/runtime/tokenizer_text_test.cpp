// The engine's view of a model directory's tokenizer (the GPT-2-shaped test tokenizer with M1's
// special tokens): presence, defined ids, end of message, and streamed text equal to the input.
#include "runtime/tokenizer_text.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace m1 {
namespace {

namespace fs = std::filesystem;

std::string folder_with(const char * name, const std::string & tokenizer_json_source) {
  const fs::path dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (!tokenizer_json_source.empty()) fs::copy_file(tokenizer_json_source, dir / "tokenizer.json");
  return dir.string();
}

TEST(TokenizerText, AbsentIsNullBrokenIsAnError) {
  auto absent = TokenizerText::load_if_present(folder_with("m1_tt_absent", ""));
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(absent->get(), nullptr);
  const std::string broken = folder_with("m1_tt_broken", "");
  std::ofstream(broken + "/tokenizer.json") << "{not json";
  auto loaded = TokenizerText::load_if_present(broken);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("tokenizer.json"), std::string::npos) << loaded.status().message();
}

TEST(TokenizerText, MasksUndefinedIdsAndStreamsTheText) {
  auto text = TokenizerText::load_if_present(
      folder_with("m1_tt_gpt2", std::string(M1_TEST_DATA_DIR) + "/tokenizer/gpt2.tokenizer.json"));
  ASSERT_TRUE(text.ok()) << text.status().message();
  ASSERT_NE(text->get(), nullptr);
  const TokenizerText & t = **text;
  const size_t n_defined = t.tokenizer().vocab_size();
  const TokenMask mask = t.defined_ids(n_defined + 64);  // a model may have more logit rows
  for (size_t id = 0; id < mask.size(); ++id)
    ASSERT_EQ(mask[id] != 0, t.tokenizer().is_defined(TokenId(id))) << id;
  EXPECT_EQ(mask[n_defined + 10], 0);
  EXPECT_EQ(t.end_of_message_ids(), std::vector<Token>{*t.tokenizer().token_to_id("<end_of_sentence>")});

  const std::string sentence = "The h\xc3\xa9llo w\xc3\xb6rld </think> ok";
  Expected<std::vector<Token>> ids = t.encode(sentence + "<end_of_sentence>");
  ASSERT_TRUE(ids.ok());
  std::unique_ptr<TextStream> stream = t.stream();
  std::string streamed;
  for (Token id : *ids) streamed += stream->next(id);
  streamed += stream->finish();
  EXPECT_EQ(streamed, sentence);  // the special token is format, not text
}

}  // namespace
}  // namespace m1
