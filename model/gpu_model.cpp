// Opening a GpuModel (config, checkpoint, weights on the device, state and K/V pools) and the
// per-sequence GpuMemory: a lightning state slot and the K/V pages it has taken so far.
#include "model/gpu_model.h"

#include <filesystem>
#include <set>
#include <utility>

#include "kernels/tensor_ops_gpu.h"

namespace m1 {

namespace gpu = kernels::gpu;

// Host-side bookkeeping of what the memories hold; shared with them so a memory outliving its
// model still gives back safely.
struct GpuMemoryPool {
  std::vector<int> free_slots;
  std::vector<int32_t> free_pages;
  const void * owner = nullptr;  // the GpuModel, for "memory of another model" checks
};

GpuMemory::~GpuMemory() { release(); }

GpuMemory::GpuMemory(GpuMemory && other) noexcept
    : pool_(std::move(other.pool_)), slot_(std::exchange(other.slot_, -1)), pages_(std::move(other.pages_)),
      n_tokens_(std::exchange(other.n_tokens_, 0)) {
  other.pages_.clear();
}

GpuMemory & GpuMemory::operator=(GpuMemory && other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    slot_ = std::exchange(other.slot_, -1);
    pages_ = std::move(other.pages_);
    other.pages_.clear();
    n_tokens_ = std::exchange(other.n_tokens_, 0);
  }
  return *this;
}

void GpuMemory::release() {
  if (!pool_) return;
  if (slot_ >= 0) pool_->free_slots.push_back(slot_);
  pool_->free_pages.insert(pool_->free_pages.end(), pages_.begin(), pages_.end());
  pool_.reset();
  slot_ = -1;
  pages_.clear();
  n_tokens_ = 0;
}

Expected<std::unique_ptr<GpuModel>> GpuModel::open(const std::string & folder, const GpuModelOptions & options) {
  auto config = load_model_config((std::filesystem::path(folder) / "config.json").string());
  if (!config) return config.status();
  auto checkpoint = Checkpoint::open(folder);
  if (!checkpoint) return checkpoint.status();
  if (options.max_sequences <= 0 || options.max_cached_tokens <= 0)
    return Status::error("gpu model: max_sequences and max_cached_tokens must be positive");
  auto weights = load_gpu_weights(*checkpoint, *config, options.device, options.progress);
  if (!weights) return weights.status().with_context(folder);
  std::unique_ptr<GpuModel> model(new GpuModel(std::move(config).value(), std::move(weights).value(), options));
  M1_RETURN_IF_ERROR(model->allocate_pools());
  return model;
}

Expected<std::unique_ptr<GpuModel>> GpuModel::open_random(const ModelConfig & config, const GpuModelOptions & options,
                                                         std::uint64_t seed) {
  if (options.max_sequences <= 0 || options.max_cached_tokens <= 0)
    return Status::error("gpu model: max_sequences and max_cached_tokens must be positive");
  auto weights = random_gpu_weights(config, options.device, seed);
  if (!weights) return weights.status();
  std::unique_ptr<GpuModel> model(new GpuModel(config, std::move(weights).value(), options));
  M1_RETURN_IF_ERROR(model->allocate_pools());
  return model;
}

Status GpuModel::allocate_pools() {
  const GpuGeometry & g = weights_.geometry;
  const int n_pages = int((options_.max_cached_tokens + kPageTokens - 1) / kPageTokens) + options_.max_sequences;
  int n_lightning = 0, n_softmax = 0;
  for (LayerKind kind : config_.layer_kinds)
    lightning_index_.push_back(kind == LayerKind::lightning ? n_lightning++ : n_softmax++);
  const size_t state_bytes = size_t(n_lightning) * options_.max_sequences * g.heads * 128 * 128 * sizeof(float);
  if (state_bytes > 0) {
    auto states = kernels::DeviceBuffer::allocate(options_.device, state_bytes);
    if (!states) return states.status().with_context("gpu model: lightning state pool");
    states_ = std::move(states).value();
  }
  const size_t page_bytes = size_t(n_pages) * kPageTokens * g.kv_heads * 128 * 2;
  for (int i = 0; i < n_softmax; ++i) {
    auto k = kernels::DeviceBuffer::allocate(options_.device, page_bytes);
    if (!k) return k.status().with_context("gpu model: K/V page pool");
    auto v = kernels::DeviceBuffer::allocate(options_.device, page_bytes);
    if (!v) return v.status().with_context("gpu model: K/V page pool");
    k_pages_.push_back(std::move(k).value());
    v_pages_.push_back(std::move(v).value());
  }
  pool_ = std::make_shared<GpuMemoryPool>();
  pool_->owner = this;
  for (int s = options_.max_sequences - 1; s >= 0; --s) pool_->free_slots.push_back(s);
  for (int p = n_pages - 1; p >= 0; --p) pool_->free_pages.push_back(p);
  return {};
}

Expected<GpuMemory> GpuModel::new_memory() {
  if (pool_->free_slots.empty())
    return Status::error("gpu model: all " + std::to_string(options_.max_sequences) +
                         " sequence slots are in use (raise max_sequences)");
  GpuMemory memory;
  memory.pool_ = pool_;
  memory.slot_ = pool_->free_slots.back();
  pool_->free_slots.pop_back();
  const size_t slot_bytes = size_t(weights_.geometry.heads) * 128 * 128 * sizeof(float);
  for (size_t i = 0; i < lightning_index_.size(); ++i) {
    if (config_.layer_kinds[i] != LayerKind::lightning) continue;
    char * base = static_cast<char *>(states_.data()) +
                  (size_t(lightning_index_[i]) * options_.max_sequences + size_t(memory.slot_)) * slot_bytes;
    M1_RETURN_IF_ERROR(gpu::fill_zero(base, slot_bytes, nullptr));
  }
  return memory;
}

void GpuModel::take_pages(GpuMemory & memory, int64_t n_tokens) {
  while (int64_t(memory.pages_.size()) * kPageTokens < n_tokens) {
    memory.pages_.push_back(pool_->free_pages.back());
    pool_->free_pages.pop_back();
  }
}

Status GpuModel::validate(std::span<const GpuSequenceInput> batch) const {
  std::set<const GpuMemory *> seen;
  int64_t pages_needed = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    const std::string where = "gpu forward: sequence " + std::to_string(s) + ": ";
    const GpuSequenceInput & in = batch[s];
    if (!in.memory) return Status::error(where + "no memory");
    if (in.memory->pool_ != pool_) return Status::error(where + "memory was not made by this model");
    if (!seen.insert(in.memory).second) return Status::error(where + "its memory appears twice in the batch");
    if (in.tokens.empty() && in.logits != LogitRows::none)
      return Status::error(where + "logits asked for but no tokens given");
    for (size_t i = 0; i < in.tokens.size(); ++i)
      if (in.tokens[i] < 0 || in.tokens[i] >= config_.vocab_size)
        return Status::error(where + "token id " + std::to_string(in.tokens[i]) + " at position " + std::to_string(i) +
                             " is out of range [0, " + std::to_string(config_.vocab_size) + ")");
    const int64_t total = in.memory->n_tokens_ + int64_t(in.tokens.size());
    pages_needed += (total + kPageTokens - 1) / kPageTokens - int64_t(in.memory->pages_.size());
  }
  if (pages_needed > int64_t(pool_->free_pages.size()))
    return Status::error("gpu forward: the batch needs " + std::to_string(pages_needed) + " more K/V pages of " +
                         std::to_string(kPageTokens) + " tokens, " + std::to_string(pool_->free_pages.size()) +
                         " are free (raise max_cached_tokens)");
  return {};
}

}  // namespace m1
