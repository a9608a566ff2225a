// A GpuMemory as host bytes and back (GpuModel::serialize_memory / deserialize_memory): the same
// shape of format as SequenceMemory::serialize (magic, version, the model's memory shape, the
// token count, the payload, a trailing FNV-1a checksum), with the payload as the GPU holds it:
// per lightning layer the slot's fp32 [H, 128, 128] (padded heads included), per softmax layer
// the bf16 K rows then V rows [n_tokens, Hkv * 128]. Copying the device bytes unchanged is what
// makes a restored memory continue bit-identically.
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/tensor_ops_gpu.h"
#include "model/gpu_model.h"

namespace m1 {

namespace gpu = kernels::gpu;

namespace {

constexpr char kMagic[8] = {'M', '1', 'G', 'P', 'U', 'M', 'E', 'M'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = sizeof kMagic + 4 * 5 + 8;  // magic, version, 4 shape words, n_tokens

uint64_t fnv1a(const uint8_t * data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

template <typename T> void put(std::vector<uint8_t> & out, T value) {
  const size_t at = out.size();
  out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);
}

template <typename T> T get(const uint8_t * at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

// The shape words a memory must match: layers, lightning heads, KV heads, head dim.
struct GpuMemoryShape {
  uint32_t n_layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
  bool operator==(const GpuMemoryShape &) const = default;
  std::string describe() const {
    return std::to_string(n_layers) + " layers, " + std::to_string(heads) + " heads, " + std::to_string(kv_heads) +
           " KV heads, head dim " + std::to_string(head_dim);
  }
};

}  // namespace

size_t GpuModel::serialized_bytes(int64_t n_tokens) const {
  const size_t kv_row = size_t(weights_.geometry.kv_heads) * 128 * 2;
  return kHeaderBytes + config_.layer_kinds.size() + slot_bytes() +
         2 * k_pages_.size() * size_t(n_tokens) * kv_row + 8;
}

std::vector<uint8_t> GpuModel::serialized_header(int64_t n_tokens) const {
  const GpuGeometry & g = weights_.geometry;
  std::vector<uint8_t> out;
  out.reserve(serialized_bytes(n_tokens));
  out.insert(out.end(), kMagic, kMagic + sizeof kMagic);
  put(out, kVersion);
  for (int word : {config_.n_layers, g.heads, g.kv_heads, g.head_dim}) put(out, uint32_t(word));
  put(out, uint64_t(n_tokens));
  for (LayerKind k : config_.layer_kinds) put(out, uint8_t(k == LayerKind::softmax));
  return out;
}

std::vector<uint8_t> GpuModel::empty_memory_bytes() const {
  std::vector<uint8_t> out = serialized_header(0);
  out.resize(out.size() + slot_bytes(), 0);  // zero lightning states, no K/V
  put(out, fnv1a(out.data(), out.size()));
  return out;
}

Expected<std::vector<uint8_t>> GpuModel::serialize_memory(const GpuMemory & memory,
                                                          std::span<const uint8_t> host_states) const {
  M1_RETURN_IF_ERROR(use_device());
  if (memory.pool_ != pool_) return Status::error("gpu model: serialize of a memory this model did not make");
  if (memory.slot_ < 0 && host_states.size() != slot_bytes())
    return Status::error("gpu model: serialize of a memory without a slot needs its " + std::to_string(slot_bytes()) +
                         " bytes of lightning states");
  const GpuGeometry & g = weights_.geometry;
  std::vector<uint8_t> out = serialized_header(memory.n_tokens_);
  const size_t kv_row = size_t(g.kv_heads) * 128 * 2;
  for (size_t l = 0; l < config_.layer_kinds.size(); ++l) {
    if (config_.layer_kinds[l] == LayerKind::lightning) {
      const size_t bytes = size_t(g.heads) * 128 * 128 * sizeof(float);
      if (memory.slot_ < 0) {
        const uint8_t * from = host_states.data() + size_t(lightning_index_[l]) * bytes;
        out.insert(out.end(), from, from + bytes);
        continue;
      }
      out.resize(out.size() + bytes);
      M1_RETURN_IF_ERROR(gpu::copy_to_host(out.data() + out.size() - bytes, slot_state(lightning_index_[l], memory.slot_), bytes));
      continue;
    }
    for (const auto * pools : {&k_pages_, &v_pages_}) {
      const kernels::DeviceBuffer & pool = (*pools)[size_t(lightning_index_[l])];
      for (int64_t t = 0; t < memory.n_tokens_; t += kPageTokens) {
        const size_t bytes = size_t(std::min<int64_t>(kPageTokens, memory.n_tokens_ - t)) * kv_row;
        out.resize(out.size() + bytes);
        M1_RETURN_IF_ERROR(gpu::copy_to_host(out.data() + out.size() - bytes,
                                             page_data(pool, memory.pages_[size_t(t / kPageTokens)]), bytes));
      }
    }
  }
  put(out, fnv1a(out.data(), out.size()));
  return out;
}

Expected<int64_t> GpuModel::check_serialized(std::span<const uint8_t> bytes) const {
  const std::string what = "gpu sequence memory: ";
  if (bytes.size() < kHeaderBytes + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return Status::error(what + "not a serialized GPU memory (bad magic; a memory saved by the CPU engine "
                                "restores on the CPU engine only)");
  if (fnv1a(bytes.data(), bytes.size() - 8) != get<uint64_t>(bytes.data() + bytes.size() - 8))
    return Status::error(what + "checksum mismatch (the bytes are truncated or corrupt)");
  const uint8_t * at = bytes.data() + sizeof kMagic;
  const uint32_t version = get<uint32_t>(at);
  if (version != kVersion)
    return Status::error(what + "format version " + std::to_string(version) + ", this build reads " +
                         std::to_string(kVersion));
  const GpuMemoryShape stored{get<uint32_t>(at + 4), get<uint32_t>(at + 8), get<uint32_t>(at + 12), get<uint32_t>(at + 16)};
  const GpuGeometry & g = weights_.geometry;
  const GpuMemoryShape expected{uint32_t(config_.n_layers), uint32_t(g.heads), uint32_t(g.kv_heads), uint32_t(g.head_dim)};
  if (!(stored == expected))
    return Status::error(what + "made for a model with " + stored.describe() + ", this model has " + expected.describe());
  const uint64_t n_tokens = get<uint64_t>(at + 20);
  if (n_tokens > (uint64_t(1) << 31) || bytes.size() != serialized_bytes(int64_t(n_tokens)))
    return Status::error(what + "holds " + std::to_string(bytes.size()) + " bytes, " + std::to_string(n_tokens) +
                         " tokens need " + std::to_string(serialized_bytes(int64_t(std::min<uint64_t>(n_tokens, 1u << 31)))));
  at = bytes.data() + kHeaderBytes;
  for (LayerKind k : config_.layer_kinds)
    if (*at++ != uint8_t(k == LayerKind::softmax))
      return Status::error(what + "its layer kinds (lightning / softmax) differ from this model's");
  return int64_t(n_tokens);
}

Expected<GpuMemory> GpuModel::deserialize_memory(std::span<const uint8_t> bytes) {
  M1_RETURN_IF_ERROR(use_device());
  Expected<int64_t> n_tokens = check_serialized(bytes);
  if (!n_tokens) return n_tokens.status();
  const std::string what = "gpu sequence memory: ";
  const GpuGeometry & g = weights_.geometry;
  const uint8_t * at = bytes.data() + kHeaderBytes + config_.layer_kinds.size();
  const int64_t pages = (*n_tokens + kPageTokens - 1) / kPageTokens;
  if (pages > int64_t(free_pages()))
    return Status::error(what + "needs " + std::to_string(pages) + " K/V pages, " +
                         std::to_string(free_pages()) + " are free (raise max_cached_tokens)");
  Expected<GpuMemory> memory = take_slot();
  if (!memory) return memory.status();
  take_pages(*memory, *n_tokens);
  memory->n_tokens_ = *n_tokens;
  const size_t kv_row = size_t(g.kv_heads) * 128 * 2;
  for (size_t l = 0; l < config_.layer_kinds.size(); ++l) {
    if (config_.layer_kinds[l] == LayerKind::lightning) {
      const size_t n = size_t(g.heads) * 128 * 128 * sizeof(float);
      M1_RETURN_IF_ERROR(gpu::copy_to_device(slot_state(lightning_index_[l], memory->slot_), at, n));
      at += n;
      continue;
    }
    for (const auto * pools : {&k_pages_, &v_pages_}) {
      const kernels::DeviceBuffer & pool = (*pools)[size_t(lightning_index_[l])];
      for (int64_t t = 0; t < *n_tokens; t += kPageTokens) {
        const size_t n = size_t(std::min<int64_t>(kPageTokens, *n_tokens - t)) * kv_row;
        M1_RETURN_IF_ERROR(gpu::copy_to_device(page_data(pool, memory->pages_[size_t(t / kPageTokens)]), at, n));
        at += n;
      }
    }
  }
  return memory;
}

}  // namespace m1
