// Loading a tokenizer: tokenizer.json (HF schema) or vocab.json + merges.txt (+ tokenizer_config.json).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/tokenizer.h"
#include "model/tokenizer_state.h"

namespace m1 {

namespace {

namespace fs = std::filesystem;

Expected<std::string> read_file(const fs::path & path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::error(path.string() + ": read failed");
  return text.str();
}

Status read_added_tokens(const nlohmann::json & list, std::vector<AddedToken> & added) {
  if (list.is_null()) return {};
  if (!list.is_array()) return Status::error("added_tokens: expected an array");
  for (const nlohmann::json & entry : list) {
    if (!entry.contains("id") || !entry.contains("content"))
      return Status::error("added_tokens: an entry lacks \"id\" or \"content\"");
    AddedToken token;
    token.id = entry["id"].get<TokenId>();
    token.content = entry["content"].get<std::string>();
    token.special = entry.value("special", false);
    token.lstrip = entry.value("lstrip", false);
    token.rstrip = entry.value("rstrip", false);
    token.normalized = entry.value("normalized", !token.special);
    if (entry.value("single_word", false))
      return Status::error("added token \"" + token.content + "\": single_word is not supported");
    added.push_back(std::move(token));
  }
  return {};
}

// Names of the special tokens a tokenizer_config.json declares (HF "slow tokenizer" form).
std::vector<std::string> config_special_tokens(const nlohmann::json & config) {
  std::vector<std::string> names;
  auto add = [&names](const nlohmann::json & value) {
    if (value.is_string()) names.push_back(value.get<std::string>());
    if (value.is_object() && value.contains("content")) names.push_back(value["content"].get<std::string>());
  };
  for (const char * key :
       {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"})
    if (config.contains(key)) add(config[key]);
  for (const nlohmann::json & value : config.value("additional_special_tokens", nlohmann::json::array()))
    add(value);
  if (config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object())
    for (const auto & [id, value] : config["added_tokens_decoder"].items()) add(value);
  return names;
}

}  // namespace

Expected<Tokenizer> Tokenizer::from_json_text(const std::string & json_text, const std::string & name) {
  nlohmann::json spec = nlohmann::json::parse(json_text, nullptr, false);
  if (!spec.is_object()) return Status::error(name + ": not valid JSON");
  auto state = std::make_shared<State>();
  Status status;
  try {  // nlohmann reports a wrongly typed field by throwing; turn that into a status here
    status = read_added_tokens(spec.value("added_tokens", nlohmann::json()), state->added);
    if (status) {
      Expected<TokenizerNormalizer> normalizer =
          TokenizerNormalizer::from_json(spec.value("normalizer", nlohmann::json()));
      Expected<TokenizerPreTokenizer> pre =
          TokenizerPreTokenizer::from_json(spec.value("pre_tokenizer", nlohmann::json()));
      Expected<BpeModel> model = BpeModel::from_json(spec.value("model", nlohmann::json::object()));
      Expected<TokenizerDecoder> decoder =
          TokenizerDecoder::from_json(spec.value("decoder", nlohmann::json()));
      for (const Status * s : {&normalizer.status(), &pre.status(), &model.status(), &decoder.status()})
        if (!s->ok() && status.ok()) status = *s;
      if (status) {
        state->normalizer = std::move(*normalizer);
        state->pre_tokenizer = std::move(*pre);
        state->model = std::move(*model);
        state->decoder = std::move(*decoder);
      }
    }
  } catch (const nlohmann::json::exception & e) {
    status = Status::error(std::string("unexpected value: ") + e.what());
  }
  if (!status) return status.with_context(name);
  state->finish();
  return Tokenizer(std::move(state));
}

Expected<Tokenizer> Tokenizer::from_vocab_and_merges(const std::string & vocab_path,
                                                     const std::string & merges_path,
                                                     const std::string & tokenizer_config_json) {
  Expected<std::string> vocab = read_file(vocab_path);
  if (!vocab) return vocab.status();
  Expected<std::string> merges = read_file(merges_path);
  if (!merges) return merges.status();
  Expected<BpeModel> model = BpeModel::from_vocab_and_merges(*vocab, *merges, merges_path);
  if (!model) return model.status().with_context(vocab_path);
  nlohmann::json config = tokenizer_config_json.empty()
                              ? nlohmann::json::object()
                              : nlohmann::json::parse(tokenizer_config_json, nullptr, false);
  if (!config.is_object()) return Status::error("tokenizer_config.json: not a JSON object");
  auto state = std::make_shared<State>();
  state->model = std::move(*model);
  state->pre_tokenizer = TokenizerPreTokenizer::gpt2(config.value("add_prefix_space", false));
  state->decoder = TokenizerDecoder::byte_level();
  std::vector<std::string> names = config_special_tokens(config);
  for (const char * name :
       {"<beginning_of_sentence>", "<end_of_sentence>", "<end_of_document>", "<begin_of_document>"})
    names.emplace_back(name);
  for (const std::string & name : names) {
    std::optional<TokenId> id = state->model.token_to_id(name);
    bool seen = false;
    for (const AddedToken & t : state->added) seen = seen || t.content == name;
    if (id && !seen) state->added.push_back(AddedToken{name, *id, true, false, false, false});
  }
  state->finish();
  return Tokenizer(std::move(state));
}

Expected<Tokenizer> Tokenizer::load(const std::string & path_text) {
  fs::path path(path_text);
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path / "tokenizer.json")) return load((path / "tokenizer.json").string());
    if (fs::exists(path / "vocab.json") && fs::exists(path / "merges.txt")) {
      std::string config;
      if (fs::exists(path / "tokenizer_config.json")) {
        Expected<std::string> text = read_file(path / "tokenizer_config.json");
        if (!text) return text.status();
        config = *text;
      }
      return from_vocab_and_merges((path / "vocab.json").string(), (path / "merges.txt").string(), config);
    }
    return Status::error(path_text + ": no tokenizer.json, nor vocab.json + merges.txt");
  }
  std::string name = path.filename().string();
  if (name.ends_with("vocab.json")) {
    fs::path merges = path.parent_path() / (name.substr(0, name.size() - 10) + "merges.txt");
    return from_vocab_and_merges(path.string(), merges.string(), "");
  }
  Expected<std::string> text = read_file(path);
  if (!text) return text.status();
  return from_json_text(*text, path_text);
}

}  // namespace m1
