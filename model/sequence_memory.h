// The memory of one sequence (M1_SPEC.md section 4, "Per-sequence memory"): per lightning layer
// the H x d x d fp32 state, per softmax layer the K and V of every past token (after RoPE), kept
// in fixed-size token pages so they can later be shared or moved page by page. A memory is a
// plain value: copy it to fork a sequence, serialize it to save it, deserialize to restore it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "model/config.h"

namespace m1 {

// What a memory must look like for a model; two models with equal shapes can share memories.
struct MemoryShape {
  std::vector<LayerKind> layer_kinds;
  int n_heads = 0, head_dim = 0, n_kv_heads = 0;

  static MemoryShape of(const ModelConfig &);
  bool operator==(const MemoryShape &) const = default;
};

// K and V of one softmax layer: pages of kPageTokens tokens. A V page is fp32 [kPageTokens, Hkv, d];
// a K page holds the same numbers transposed, fp32 [Hkv, d, kPageTokens], because attention
// multiplies queries by K^T: the keys of a page are then the B matrix of a GEMM as they lie, with
// no transposing copy per call (kernels/cpu/attention.h).
// Copies share pages (copy-on-write): a full page never changes again, so forks of a long
// sequence share all of it; the first write to a shared, partly filled last page copies that page.
class KvPages {
public:
  static constexpr int kPageTokens = 64;

  KvPages() = default;
  explicit KvPages(int row_width) : row_width_(row_width) {}

  int n_tokens() const { return n_tokens_; }
  int row_width() const { return row_width_; }  // Hkv * d
  // Appends n tokens; k and v are fp32 [n, row_width] with row stride ld.
  void append(const float * k, const float * v, int ld, int n);
  std::vector<const float *> k_pages() const;
  std::vector<const float *> v_pages() const;
  // The first n_tokens tokens only (n <= n_tokens()).
  void truncate(int n);
  // Pages this object holds alone (not shared with a copy).
  int n_unshared_pages() const;

  // Equal contents (pages compared by value, shared or not).
  bool operator==(const KvPages & other) const;

private:
  using Page = std::shared_ptr<std::vector<float>>;
  friend class SequenceMemory;
  void make_last_page_unshared();
  int row_width_ = 0;
  int n_tokens_ = 0;
  std::vector<Page> k_, v_;  // pages, each kPageTokens * row_width floats
};

class SequenceMemory {
public:
  SequenceMemory() = default;
  explicit SequenceMemory(MemoryShape shape);

  const MemoryShape & shape() const { return shape_; }
  int64_t n_tokens() const { return n_tokens_; }

  // fp32 [H, d, d] of a lightning layer: state[h][i][j], i = key dim, j = value dim.
  float * lightning_state(int layer) { return states_[layer].data(); }
  const float * lightning_state(int layer) const { return states_[layer].data(); }
  KvPages & kv(int layer) { return kv_[layer]; }
  const KvPages & kv(int layer) const { return kv_[layer]; }

  // Called by the forward after every layer has taken n new tokens.
  void advance(int n) { n_tokens_ += n; }
  // Back to the empty sequence.
  void clear();

  // Bytes the memory holds (states + KV pages in use).
  int64_t byte_size() const;

  // Versioned, checksummed bytes; deserialize checks them against the shape of the model that will
  // use the memory and reports what does not match.
  std::vector<uint8_t> serialize() const;
  static Expected<SequenceMemory> deserialize(std::span<const uint8_t> bytes, const MemoryShape & expected);

  bool operator==(const SequenceMemory &) const = default;

private:
  MemoryShape shape_;
  int64_t n_tokens_ = 0;
  std::vector<std::vector<float>> states_;  // per layer; empty for softmax layers
  std::vector<KvPages> kv_;                 // per layer; empty for lightning layers
};

}  // namespace m1
