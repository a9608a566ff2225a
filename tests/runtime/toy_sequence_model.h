// A small deterministic SequenceModel for the engine's own logic (scheduling, caching, forks,
// persistence): a decaying fp32 state plus the list of past tokens, updated token by token, so
// its results do not depend on how tokens are chunked or batched and every engine path must give
// bit-identical results. The real M1 model is exercised in engine_model_test.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <cmath>
#include <cstring>

#include "runtime/engine_text.h"
#include "runtime/sequence_model.h"

namespace m1::testing {

class ToyState : public SequenceState {
public:
  static constexpr int kDim = 8;
  float h[kDim] = {};
  std::vector<Token> past;

  size_t n_tokens() const override { return past.size(); }
  size_t byte_size() const override { return sizeof(h) + past.size() * sizeof(Token); }
  // Set by ToySequenceModel::fail_copies: copies fail as a device error would make them.
  const std::atomic<bool> * copies_fail = nullptr;

  Expected<std::unique_ptr<SequenceState>> fork() const override {
    if (copies_fail && *copies_fail) return Status::error("toy state: device lost");
    return std::unique_ptr<SequenceState>(std::make_unique<ToyState>(*this));
  }
  Expected<std::vector<std::uint8_t>> serialize() const override {
    if (copies_fail && *copies_fail) return Status::error("toy state: device lost");
    std::vector<std::uint8_t> out(sizeof(h) + past.size() * sizeof(Token));
    std::memcpy(out.data(), h, sizeof(h));
    if (!past.empty()) std::memcpy(out.data() + sizeof(h), past.data(), past.size() * sizeof(Token));
    return out;
  }
};

class ToySequenceModel : public SequenceModel {
public:
  explicit ToySequenceModel(size_t vocab) : vocab_(vocab) {}
  size_t vocab_size() const override { return vocab_; }
  std::unique_ptr<SequenceState> new_state() const override {
    auto s = std::make_unique<ToyState>();
    s->copies_fail = &fail_copies;
    return s;
  }
  Expected<std::unique_ptr<SequenceState>> deserialize_state(std::span<const std::uint8_t> bytes) const override {
    if (bytes.size() < sizeof(ToyState::h) || (bytes.size() - sizeof(ToyState::h)) % sizeof(Token) != 0)
      return Status::error("toy state: bad size " + std::to_string(bytes.size()));
    auto s = std::make_unique<ToyState>();
    s->copies_fail = &fail_copies;
    std::memcpy(s->h, bytes.data(), sizeof(s->h));
    s->past.resize((bytes.size() - sizeof(s->h)) / sizeof(Token));
    if (!s->past.empty()) std::memcpy(s->past.data(), bytes.data() + sizeof(s->h), s->past.size() * sizeof(Token));
    return std::unique_ptr<SequenceState>(std::move(s));
  }

  Status forward(std::span<const Item> batch) override {
    if (step_delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(step_delay_us.load()));
    max_batch = std::max<size_t>(max_batch, batch.size());
    ++n_forwards;
    for (const Item & item : batch) {
      auto & s = static_cast<ToyState &>(*item.state);
      for (Token t : item.tokens) {
        for (int j = 0; j < ToyState::kDim; ++j)
          s.h[j] = 0.75f * s.h[j] + std::sin(0.37f * float(t + 1) * float(j + 1));
        s.past.push_back(t);
      }
      if (item.want_logits) {
        item.logits->assign(vocab_, 0.0f);
        for (size_t v = 0; v < vocab_; ++v) {
          float z = 0.0f;
          for (int j = 0; j < ToyState::kDim; ++j) z += s.h[j] * std::cos(0.53f * float(v + 1) * float(j + 2));
          (*item.logits)[v] = 3.0f * z;
        }
        // Earlier tokens matter beyond the decaying state: ids seen 5 tokens back are favoured.
        if (s.past.size() >= 5) (*item.logits)[size_t(s.past[s.past.size() - 5])] += 0.5f;
      }
    }
    return Status();
  }

  std::atomic<int> step_delay_us{0};  // makes steps slow enough for concurrent callers to meet
  std::atomic<size_t> max_batch{0};
  std::atomic<size_t> n_forwards{0};
  std::atomic<bool> fail_copies{false};  // every state's fork and serialize fail while set

private:
  size_t vocab_;
};

// Text for toy ids: 0-25 letters, 26 " ", 27 "\n", 28 "<think>", 29 "</think>", 30 end of message
// (no text), 31 undefined (must never be generated); the rest spell "x".
class ToyText : public EngineText {
public:
  static constexpr Token kEnd = 30, kUndefined = 31;
  static std::string spelling(Token t) {
    if (t < 26) return std::string(1, char('a' + t));
    switch (t) {
    case 26: return " ";
    case 27: return "\n";
    case 28: return "<think>";
    case 29: return "</think>";
    case 30: return "";
    default: return "x";
    }
  }
  TokenMask defined_ids(size_t vocab) const override {
    TokenMask m(vocab, 1);
    m[kUndefined] = 0;
    return m;
  }
  std::vector<Token> end_of_message_ids() const override { return {kEnd}; }
  Expected<std::vector<Token>> encode(std::string_view text) const override {
    std::vector<Token> out;
    while (!text.empty()) {
      Token best = -1;
      size_t best_len = 0;
      for (Token t = 0; t < 30; ++t) {
        const std::string s = spelling(t);
        if (s.size() > best_len && text.substr(0, s.size()) == s) best = t, best_len = s.size();
      }
      if (best < 0) return Status::error("toy text: cannot encode");
      out.push_back(best);
      text.remove_prefix(best_len);
    }
    return out;
  }
  std::unique_ptr<TextStream> stream() const override {
    struct Stream : TextStream {
      std::string next(Token t) override { return spelling(t); }
    };
    return std::make_unique<Stream>();
  }
};

}  // namespace m1::testing
