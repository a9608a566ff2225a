// The BPE model (see tokenizer_bpe.h). Merging follows HF tokenizers' Word::merge_all: a heap of
// candidate pairs ordered by (rank, position); a popped candidate whose pair changed meanwhile is
// stale and skipped.
#include "model/tokenizer_bpe.h"

#include <cstdio>
#include <mutex>
#include <queue>

#include "model/unicode_utf8.h"

namespace m1 {

namespace {

// The cache is dropped whole when it reaches this many words: simple, and the working set of
// words in a text is far smaller (a 12 MB mixed corpus has about 60k distinct words).
constexpr size_t kCacheWords = 1 << 17;
constexpr size_t kCacheMaxWordBytes = 128;

uint64_t pair_key(TokenId left, TokenId right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

std::string byte_token_name(int byte) {
  char name[8];
  std::snprintf(name, sizeof name, "<0x%02X>", byte);
  return name;
}

}  // namespace

Status BpeModel::add_merge(const std::string & left, const std::string & right, int32_t rank) {
  auto l = vocab_.find(left), r = vocab_.find(right), m = vocab_.find(left + right);
  if (l == vocab_.end() || r == vocab_.end() || m == vocab_.end())
    return Status::error("merge " + std::to_string(rank + 1) + " (\"" + left + "\" \"" + right +
                         "\"): a token of it is not in the vocabulary");
  merges_.emplace(pair_key(l->second, r->second), Merge{rank, m->second});  // first rank wins
  return {};
}

void BpeModel::build_reverse() {
  TokenId end = 0;
  for (const auto & [token, id] : vocab_) end = std::max(end, id + 1);
  id_to_token_.assign(size_t(end), std::string());
  for (const auto & [token, id] : vocab_) id_to_token_[size_t(id)] = token;
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(byte_token_name(b));
    byte_tokens_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

Expected<BpeModel> BpeModel::from_json(const nlohmann::json & spec) {
  if (spec.value("type", "BPE") != "BPE")
    return Status::error("model type \"" + spec.value("type", "") + "\" is not supported (only BPE)");
  for (const char * key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (spec.contains(key) && spec[key].is_string() && !spec[key].get<std::string>().empty())
      return Status::error(std::string("model: ") + key + " is not supported");
  BpeModel model;
  for (const auto & [token, id] : spec.at("vocab").items()) model.vocab_.emplace(token, id.get<TokenId>());
  int32_t rank = 0;
  for (const nlohmann::json & merge : spec.value("merges", nlohmann::json::array())) {
    std::string left, right;
    if (merge.is_array() && merge.size() == 2) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else if (merge.is_string()) {
      std::string text = merge.get<std::string>();
      size_t space = text.find(' ', 1);
      if (space == std::string::npos) return Status::error("model: merge \"" + text + "\" has no space");
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else {
      return Status::error("model: merge " + std::to_string(rank + 1) + " is neither \"a b\" nor [a, b]");
    }
    M1_RETURN_IF_ERROR(model.add_merge(left, right, rank++));
  }
  if (spec.contains("unk_token") && spec["unk_token"].is_string()) {
    auto it = model.vocab_.find(spec["unk_token"].get<std::string>());
    if (it == model.vocab_.end()) return Status::error("model: unk_token is not in the vocabulary");
    model.unk_ = it->second;
  }
  model.fuse_unk_ = spec.value("fuse_unk", false);
  model.byte_fallback_ = spec.value("byte_fallback", false);
  model.ignore_merges_ = spec.value("ignore_merges", false);
  model.build_reverse();
  return model;
}

Expected<BpeModel> BpeModel::from_vocab_and_merges(const std::string & vocab_json,
                                                   const std::string & merges_txt,
                                                   const std::string & merges_name) {
  nlohmann::json vocab = nlohmann::json::parse(vocab_json, nullptr, false);
  if (!vocab.is_object()) return Status::error("vocab.json: not a JSON object of token -> id");
  BpeModel model;
  for (const auto & [token, id] : vocab.items()) {
    if (!id.is_number_integer())
      return Status::error("vocab.json: id of \"" + token + "\" is not an integer");
    model.vocab_.emplace(token, id.get<TokenId>());
  }
  int32_t rank = 0;
  size_t line_number = 0;
  for (size_t pos = 0; pos < merges_txt.size();) {
    size_t end = merges_txt.find('\n', pos);
    if (end == std::string::npos) end = merges_txt.size();
    std::string line = merges_txt.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_number == 1 && line.starts_with("#version"))) continue;
    size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
      return Status::error(merges_name + ":" + std::to_string(line_number) +
                           ": expected two tokens separated by one space");
    Status added = model.add_merge(line.substr(0, space), line.substr(space + 1), rank++);
    if (!added) return added.with_context(merges_name + ":" + std::to_string(line_number));
  }
  model.build_reverse();
  return model;
}

std::optional<TokenId> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string * BpeModel::id_to_token(TokenId id) const {
  if (id < 0 || size_t(id) >= id_to_token_.size() || id_to_token_[size_t(id)].empty()) return nullptr;
  return &id_to_token_[size_t(id)];
}

void BpeModel::initial_symbols(std::string_view word, std::vector<TokenId> & ids) const {
  std::string character;
  bool previous_unk = false;
  for (size_t pos = 0; pos < word.size();) {
    size_t n = utf8::sequence_length(word, pos);
    if (n == 0) n = 1;
    character.assign(word.substr(pos, n));
    pos += n;
    auto it = vocab_.find(character);
    if (it != vocab_.end()) {
      ids.push_back(it->second);
      previous_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : character) all = all && byte_tokens_[uint8_t(c)] >= 0;
      if (all) {
        for (char c : character) ids.push_back(byte_tokens_[uint8_t(c)]);
        previous_unk = false;
        continue;
      }
    }
    if (!unk_) continue;  // no unknown token: HF drops the character
    if (!(fuse_unk_ && previous_unk)) ids.push_back(*unk_);
    previous_unk = true;
  }
}

void BpeModel::apply_merges(std::vector<TokenId> & ids) const {
  if (ids.size() < 2) return;
  struct Candidate {
    int32_t rank;
    int32_t pos;
    TokenId result;
    bool operator>(const Candidate & o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const int32_t n = int32_t(ids.size());
  std::vector<int32_t> prev(ids.size()), next(ids.size());
  std::vector<bool> removed(ids.size(), false);
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push = [&](int32_t pos, int32_t right) {
    auto it = merges_.find(pair_key(ids[size_t(pos)], ids[size_t(right)]));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.result});
  };
  for (int32_t i = 0; i < n; ++i) {
    prev[size_t(i)] = i - 1;
    next[size_t(i)] = i + 1 < n ? i + 1 : -1;
  }
  for (int32_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    size_t pos = size_t(top.pos);
    if (removed[pos] || next[pos] < 0) continue;
    size_t right = size_t(next[pos]);
    auto it = merges_.find(pair_key(ids[pos], ids[right]));
    if (it == merges_.end() || it->second.result != top.result) continue;  // stale
    ids[pos] = top.result;
    removed[right] = true;
    next[pos] = next[right];
    if (next[right] >= 0) prev[size_t(next[right])] = top.pos;
    if (prev[pos] >= 0) push(prev[pos], top.pos);
    if (next[pos] >= 0) push(top.pos, next[pos]);
  }
  size_t write = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    if (!removed[i]) ids[write++] = ids[i];
  ids.resize(write);
}

void BpeModel::encode_word(std::string_view word, std::vector<TokenId> & out) const {
  if (ignore_merges_) {
    if (auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  bool cacheable = word.size() <= kCacheMaxWordBytes;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::shared_lock lock(cache_->mutex);
    auto it = cache_->words.find(key);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<TokenId> ids;
  initial_symbols(word, ids);
  apply_merges(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::unique_lock lock(cache_->mutex);
    if (cache_->words.size() >= kCacheWords) cache_->words.clear();
    cache_->words.emplace(std::move(key), std::move(ids));
  }
}

}  // namespace m1
