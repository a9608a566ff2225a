#include "model/sequence_memory.h"

#include <algorithm>
#include <cstring>

namespace m1 {

namespace {

constexpr char kMagic[8] = {'M', '1', 'S', 'E', 'Q', 'M', 'E', 'M'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const uint8_t * data, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

class Writer {
public:
  std::vector<uint8_t> bytes;
  template <typename T> void put(const T & v) { append(&v, sizeof v); }
  void append(const void * p, size_t n) {
    const uint8_t * b = static_cast<const uint8_t *>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
};

class Reader {
public:
  explicit Reader(std::span<const uint8_t> b) : bytes_(b) {}
  template <typename T> bool get(T & v) { return take(&v, sizeof v); }
  bool take(void * p, size_t n) {
    if (bytes_.size() - pos_ < n) return false;
    std::memcpy(p, bytes_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  size_t left() const { return bytes_.size() - pos_; }

private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

std::string describe(const MemoryShape & s) {
  std::string kinds;
  for (LayerKind k : s.layer_kinds) kinds += k == LayerKind::softmax ? 'S' : 'L';
  return std::to_string(s.layer_kinds.size()) + " layers " + kinds + ", " + std::to_string(s.n_heads) +
         " heads of dim " + std::to_string(s.head_dim) + ", " + std::to_string(s.n_kv_heads) + " kv heads";
}

}  // namespace

MemoryShape MemoryShape::of(const ModelConfig & c) {
  return MemoryShape{c.layer_kinds, c.n_heads, c.head_dim, c.n_kv_heads};
}

// Copy-on-write: another KvPages (a fork or a snapshot) may hold the last page; writing to it
// must not change theirs. Full pages are never written, so only the last one is ever copied.
void KvPages::make_last_page_unshared() {
  for (std::vector<Page> * pages : {&k_, &v_})
    if (!pages->empty() && pages->back().use_count() > 1) pages->back() = std::make_shared<std::vector<float>>(*pages->back());
}

void KvPages::append(const float * k, const float * v, int ld, int n) {
  const size_t width = size_t(row_width_);
  if (n > 0 && n_tokens_ % kPageTokens != 0) make_last_page_unshared();
  for (int i = 0; i < n; ++i, ++n_tokens_) {
    const int page = n_tokens_ / kPageTokens, slot = n_tokens_ % kPageTokens;
    if (page == int(k_.size())) {
      k_.push_back(std::make_shared<std::vector<float>>(kPageTokens * width));
      v_.push_back(std::make_shared<std::vector<float>>(kPageTokens * width));
    }
    float * key_columns = k_[page]->data() + slot;  // keys transposed: column c at c * kPageTokens
    const float * key = k + size_t(i) * ld;
    for (size_t c = 0; c < width; ++c) key_columns[c * kPageTokens] = key[c];
    std::memcpy(v_[page]->data() + slot * width, v + size_t(i) * ld, width * sizeof(float));
  }
}

std::vector<const float *> KvPages::k_pages() const {
  std::vector<const float *> pages;
  for (const auto & p : k_) pages.push_back(p->data());
  return pages;
}

std::vector<const float *> KvPages::v_pages() const {
  std::vector<const float *> pages;
  for (const auto & p : v_) pages.push_back(p->data());
  return pages;
}

void KvPages::truncate(int n) {
  n_tokens_ = std::min(n, n_tokens_);
  const size_t pages = (size_t(n_tokens_) + kPageTokens - 1) / kPageTokens;
  k_.resize(pages);
  v_.resize(pages);
  // Slots past the end of the last page are never read; zero them so equal memories compare equal.
  if (pages && n_tokens_ % kPageTokens) {
    make_last_page_unshared();
    const size_t used = size_t(n_tokens_ % kPageTokens);
    for (size_t c = 0; c < size_t(row_width_); ++c)
      std::fill_n(k_.back()->begin() + ptrdiff_t(c * kPageTokens + used), kPageTokens - used, 0.0f);
    std::fill(v_.back()->begin() + ptrdiff_t(used * row_width_), v_.back()->end(), 0.0f);
  }
}

int KvPages::n_unshared_pages() const {
  int n = 0;
  for (const std::vector<Page> * pages : {&k_, &v_})
    for (const Page & p : *pages) n += p.use_count() == 1;
  return n;
}

bool KvPages::operator==(const KvPages & o) const {
  if (row_width_ != o.row_width_ || n_tokens_ != o.n_tokens_ || k_.size() != o.k_.size()) return false;
  for (size_t i = 0; i < k_.size(); ++i)
    if ((k_[i] != o.k_[i] && *k_[i] != *o.k_[i]) || (v_[i] != o.v_[i] && *v_[i] != *o.v_[i])) return false;
  return true;
}

SequenceMemory::SequenceMemory(MemoryShape shape) : shape_(std::move(shape)) { clear(); }

void SequenceMemory::clear() {
  n_tokens_ = 0;
  const size_t n_layers = shape_.layer_kinds.size();
  states_.assign(n_layers, {});
  kv_.assign(n_layers, KvPages());
  for (size_t l = 0; l < n_layers; ++l) {
    if (shape_.layer_kinds[l] == LayerKind::lightning)
      states_[l].assign(size_t(shape_.n_heads) * shape_.head_dim * shape_.head_dim, 0.0f);
    else
      kv_[l] = KvPages(shape_.n_kv_heads * shape_.head_dim);
  }
}

int64_t SequenceMemory::byte_size() const {
  int64_t bytes = 0;
  for (const auto & s : states_) bytes += int64_t(s.size()) * 4;
  for (const KvPages & kv : kv_) bytes += int64_t(kv.k_.size()) * 2 * KvPages::kPageTokens * kv.row_width() * 4;
  return bytes;
}

std::vector<uint8_t> SequenceMemory::serialize() const {
  Writer w;
  w.append(kMagic, sizeof kMagic);
  w.put(kVersion);
  w.put(uint32_t(shape_.layer_kinds.size()));
  w.put(uint32_t(shape_.n_heads));
  w.put(uint32_t(shape_.head_dim));
  w.put(uint32_t(shape_.n_kv_heads));
  w.put(uint64_t(n_tokens_));
  for (LayerKind k : shape_.layer_kinds) w.put(uint8_t(k == LayerKind::softmax));
  for (size_t l = 0; l < shape_.layer_kinds.size(); ++l) {
    if (shape_.layer_kinds[l] == LayerKind::lightning) {
      w.append(states_[l].data(), states_[l].size() * sizeof(float));
      continue;
    }
    // Token rows (K, then V), whatever the page layout: saved sessions do not depend on it.
    const KvPages & kv = kv_[l];
    std::vector<float> key(size_t(kv.row_width()));
    for (int t = 0; t < kv.n_tokens(); ++t) {
      const float * key_columns = kv.k_[t / KvPages::kPageTokens]->data() + t % KvPages::kPageTokens;
      for (size_t c = 0; c < key.size(); ++c) key[c] = key_columns[c * KvPages::kPageTokens];
      w.append(key.data(), key.size() * sizeof(float));
    }
    for (int t = 0; t < kv.n_tokens(); ++t)
      w.append(kv.v_[t / KvPages::kPageTokens]->data() + size_t(t % KvPages::kPageTokens) * kv.row_width(),
               size_t(kv.row_width()) * sizeof(float));
  }
  w.put(fnv1a(w.bytes.data(), w.bytes.size()));
  return std::move(w.bytes);
}

Expected<SequenceMemory> SequenceMemory::deserialize(std::span<const uint8_t> bytes, const MemoryShape & expected) {
  const std::string what = "sequence memory: ";
  if (bytes.size() < sizeof kMagic + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return Status::error(what + "not a serialized sequence memory (bad magic)");
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, bytes.data() + bytes.size() - 8, 8);
  if (fnv1a(bytes.data(), bytes.size() - 8) != stored_sum)
    return Status::error(what + "checksum mismatch (the bytes are truncated or corrupt)");
  Reader r(bytes.subspan(sizeof kMagic, bytes.size() - sizeof kMagic - 8));
  uint32_t version = 0, n_layers = 0, n_heads = 0, head_dim = 0, n_kv_heads = 0;
  uint64_t n_tokens = 0;
  if (!r.get(version) || version != kVersion)
    return Status::error(what + "format version " + std::to_string(version) + ", this build reads " + std::to_string(kVersion));
  if (!r.get(n_layers) || !r.get(n_heads) || !r.get(head_dim) || !r.get(n_kv_heads) || !r.get(n_tokens))
    return Status::error(what + "truncated header");
  MemoryShape shape{{}, int(n_heads), int(head_dim), int(n_kv_heads)};
  for (uint32_t l = 0; l < n_layers && l < 1u << 20; ++l) {
    uint8_t kind = 0;
    if (!r.get(kind) || kind > 1) return Status::error(what + "bad layer kind table");
    shape.layer_kinds.push_back(kind ? LayerKind::softmax : LayerKind::lightning);
  }
  if (!(shape == expected))
    return Status::error(what + "made for a model with " + describe(shape) + ", this model has " + describe(expected));
  const uint64_t state_floats = uint64_t(n_heads) * head_dim * head_dim;
  const uint64_t kv_floats = 2 * n_tokens * uint64_t(n_kv_heads) * head_dim;
  uint64_t payload = 0;
  for (LayerKind k : shape.layer_kinds) payload += (k == LayerKind::lightning ? state_floats : kv_floats) * 4;
  if (n_tokens > (uint64_t(1) << 31) || r.left() != payload)
    return Status::error(what + "holds " + std::to_string(r.left()) + " payload bytes, " +
                         std::to_string(n_tokens) + " tokens need " + std::to_string(payload));
  SequenceMemory memory(shape);
  memory.n_tokens_ = int64_t(n_tokens);
  for (size_t l = 0; l < shape.layer_kinds.size(); ++l) {
    if (shape.layer_kinds[l] == LayerKind::lightning) {
      r.take(memory.states_[l].data(), state_floats * 4);
      continue;
    }
    const size_t width = size_t(n_kv_heads) * head_dim;
    std::vector<float> k(n_tokens * width), v(n_tokens * width);
    r.take(k.data(), k.size() * 4);
    r.take(v.data(), v.size() * 4);
    memory.kv_[l].append(k.data(), v.data(), int(width), int(n_tokens));
  }
  return memory;
}

}  // namespace m1
