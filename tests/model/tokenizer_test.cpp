// The tokenizer against the HF tokenizers library: ids, decoded text and vocabulary sizes that
// tests/reference/make_tokenizer_goldens.py recorded on the GPU machine for tokenizers it trained
// there (tests/data/tokenizer). Every id of every case must match.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/tokenizer.h"
#include "model/tokenizer_stream.h"
#include "model/unicode_utf8.h"

namespace m1 {
namespace {

const std::string kDir = std::string(M1_TEST_DATA_DIR) + "/tokenizer/";

std::string read_text(const std::string & path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const nlohmann::json & goldens() {
  static const nlohmann::json data = nlohmann::json::parse(read_text(kDir + "cases.json"));
  return data;
}

std::string from_hex(const std::string & hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

Tokenizer load(const std::string & name) {
  if (name == "gpt2_prefix") {  // gpt2 with ByteLevel add_prefix_space=true, as the script made it
    nlohmann::json spec = nlohmann::json::parse(read_text(kDir + "gpt2.tokenizer.json"));
    spec["pre_tokenizer"]["add_prefix_space"] = true;
    Expected<Tokenizer> tok = Tokenizer::from_json_text(spec.dump(), name);
    EXPECT_TRUE(tok.ok()) << tok.status().message();
    return *tok;
  }
  Expected<Tokenizer> tok = Tokenizer::load(kDir + name + ".tokenizer.json");
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return *tok;
}

std::vector<TokenId> ids_of(const nlohmann::json & list) { return list.get<std::vector<TokenId>>(); }

std::string case_input(const nlohmann::json & c) {
  const nlohmann::json & invalid = goldens()["invalid_utf8"];
  std::string name = c["name"].get<std::string>();
  // Invalid-UTF-8 cases are fed as their raw bytes: the tokenizer must repair them as Python did.
  return invalid.contains(name) ? from_hex(invalid[name].get<std::string>()) : c["text"].get<std::string>();
}

class TokenizerGoldens : public testing::TestWithParam<std::string> {};

TEST_P(TokenizerGoldens, EncodeMatchesLibraryForEveryCase) {
  Tokenizer tok = load(GetParam());
  const nlohmann::json & expected = goldens()["tokenizers"][GetParam()];
  const nlohmann::json & cases = goldens()["cases"];
  int mismatches = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<TokenId> got = tok.encode(case_input(cases[i]));
    std::vector<TokenId> want = ids_of(expected["ids"][i]);
    if (got != want && ++mismatches <= 5)
      ADD_FAILURE() << "case " << cases[i]["name"] << ": got " << nlohmann::json(got) << "\nwant "
                    << nlohmann::json(want);
  }
  EXPECT_EQ(mismatches, 0);
}

TEST_P(TokenizerGoldens, DecodeMatchesLibrary) {
  Tokenizer tok = load(GetParam());
  const nlohmann::json & expected = goldens()["tokenizers"][GetParam()];
  for (size_t i = 0; i < expected["ids"].size(); ++i)
    EXPECT_EQ(tok.decode(ids_of(expected["ids"][i])), expected["decoded"][i].get<std::string>())
        << "case " << i;
  for (size_t i = 0; i < expected["random_ids"].size(); ++i) {
    std::vector<TokenId> ids = ids_of(expected["random_ids"][i]);
    EXPECT_EQ(tok.decode(ids), expected["random_decoded"][i].get<std::string>()) << nlohmann::json(ids);
    EXPECT_EQ(tok.decode(ids, true), expected["random_decoded_skip_special"][i].get<std::string>())
        << nlohmann::json(ids);
  }
}

TEST_P(TokenizerGoldens, VocabularySizeAndSpecialTokens) {
  Tokenizer tok = load(GetParam());
  EXPECT_EQ(tok.vocab_size(), goldens()["tokenizers"][GetParam()]["vocab_size"].get<size_t>());
  const SpecialTokenIds & special = tok.special_tokens();
  ASSERT_TRUE(special.eos && special.bos && special.unk && special.begin_of_document);
  EXPECT_EQ(tok.token_to_id("<end_of_sentence>"), special.eos);
  EXPECT_TRUE(tok.is_special(*special.eos));
  EXPECT_EQ(tok.id_to_token(*special.bos), "<beginning_of_sentence>");
  EXPECT_EQ(tok.encode("<begin_of_document>"), std::vector<TokenId>{*special.begin_of_document});
  EXPECT_FALSE(tok.is_defined(TokenId(tok.vocab_size())));
  EXPECT_FALSE(tok.is_defined(-1));
  // <think> is ordinary text in M1 (M1_SPEC.md section 6): several tokens, none special.
  for (TokenId id : tok.encode("<think>")) EXPECT_FALSE(tok.is_special(id));
}

TEST_P(TokenizerGoldens, IncrementalDecoderEmitsOnlyCompleteUtf8AndEqualsDecode) {
  Tokenizer tok = load(GetParam());
  const nlohmann::json & expected = goldens()["tokenizers"][GetParam()];
  std::vector<nlohmann::json> lists(expected["ids"].begin(), expected["ids"].end());
  lists.insert(lists.end(), expected["random_ids"].begin(), expected["random_ids"].end());
  for (const nlohmann::json & list : lists) {
    std::vector<TokenId> ids = ids_of(list);
    std::string whole = tok.decode(ids);
    IncrementalDecoder stream(tok);
    std::string streamed;
    for (TokenId id : ids) {
      std::string piece = stream.feed(id);
      EXPECT_TRUE(utf8::is_valid(piece)) << nlohmann::json(ids);
      streamed += piece;
    }
    streamed += stream.finish();
    // ByteFallback replaces each byte of a bad run with its own U+FFFD where a stream gives one
    // per maximal subpart, so only well-formed results are compared for that decoder.
    bool comparable = GetParam() != "fallback" || whole.find("\xEF\xBF\xBD") == std::string::npos;
    if (comparable) {
      EXPECT_EQ(streamed, whole) << nlohmann::json(ids);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, TokenizerGoldens, testing::Values("gpt2", "gpt2_prefix", "gpt4o", "fallback"));

TEST(Tokenizer, VocabAndMergesPairEncodesLikeTokenizerJson) {
  Expected<Tokenizer> pair = Tokenizer::load(kDir + "gpt2.vocab.json");
  ASSERT_TRUE(pair.ok()) << pair.status().message();
  const nlohmann::json & expected = goldens()["tokenizers"]["gpt2"];
  const nlohmann::json & cases = goldens()["cases"];
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(pair->encode(case_input(cases[i])), ids_of(expected["ids"][i])) << cases[i]["name"];
  EXPECT_TRUE(pair->special_tokens().eos.has_value());
}

TEST(Tokenizer, LoadErrorsNameTheFileAndTheProblem) {
  Expected<Tokenizer> missing = Tokenizer::load(kDir + "no_such.tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no_such.tokenizer.json"), std::string::npos);
  Expected<Tokenizer> bad =
      Tokenizer::from_json_text("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "x.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("WordPiece"), std::string::npos);
  Expected<Tokenizer> not_json = Tokenizer::from_json_text("{", "y.json");
  EXPECT_FALSE(not_json.ok());
  Expected<Tokenizer> wrong_type =
      Tokenizer::from_json_text("{\"model\": {\"vocab\": {\"a\": \"x\"}}}", "z.json");
  EXPECT_FALSE(wrong_type.ok());
}

}  // namespace
}  // namespace m1
