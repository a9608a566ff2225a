// Opening a GpuModel (config, checkpoint, weights on the device, state and K/V pools) and the
// per-sequence GpuMemory: a lightning state slot and the K/V pages it holds so far (a full page
// may be held by several memories after a fork: pages are reference counted).
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
  std::vector<int> page_refs;  // per page: memories holding it
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
  for (int32_t page : pages_)
    if (--pool_->page_refs[size_t(page)] == 0) pool_->free_pages.push_back(page);
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
  M1_RETURN_IF_ERROR(kernels::make_device_current(options.device).with_context("gpu model: cuda:" + std::to_string(options.device)));
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
  M1_RETURN_IF_ERROR(kernels::make_device_current(options.device).with_context("gpu model: cuda:" + std::to_string(options.device)));
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
  pool_->page_refs.assign(size_t(n_pages), 0);
  return {};
}

Expected<GpuMemory> GpuModel::take_slot() {
  if (pool_->free_slots.empty())
    return Status::error("gpu model: all " + std::to_string(options_.max_sequences) +
                         " sequence slots are in use (raise max_sequences)");
  GpuMemory memory;
  memory.pool_ = pool_;
  memory.slot_ = pool_->free_slots.back();
  pool_->free_slots.pop_back();
  return memory;
}

// One lightning layer's fp32 [H, 128, 128] state of one slot.
static size_t layer_slot_bytes(const GpuGeometry & g) { return size_t(g.heads) * 128 * 128 * sizeof(float); }

char * GpuModel::slot_state(int lightning_layer, int slot) const {
  return static_cast<char *>(states_.data()) +
         (size_t(lightning_layer) * options_.max_sequences + size_t(slot)) * layer_slot_bytes(weights_.geometry);
}

// One page of one softmax layer's K (or V) pool: bf16 [64, Hkv, 128].
static size_t layer_page_bytes(const GpuGeometry & g) { return size_t(GpuModel::kPageTokens) * g.kv_heads * 128 * 2; }

char * GpuModel::page_data(const kernels::DeviceBuffer & pool, int32_t page) const {
  return static_cast<char *>(pool.data()) + size_t(page) * layer_page_bytes(weights_.geometry);
}

size_t GpuModel::slot_bytes() const {
  return (lightning_index_.size() - k_pages_.size()) * layer_slot_bytes(weights_.geometry);
}

size_t GpuModel::page_bytes() const { return 2 * k_pages_.size() * layer_page_bytes(weights_.geometry); }

const void * GpuModel::page_address(int32_t page) const {
  return k_pages_.empty() ? nullptr : page_data(k_pages_[0], page);
}

int GpuModel::free_slots() const { return int(pool_->free_slots.size()); }
int GpuModel::free_pages() const { return int(pool_->free_pages.size()); }

Expected<GpuMemory> GpuModel::new_memory() {
  M1_RETURN_IF_ERROR(use_device());
  Expected<GpuMemory> memory = take_slot();
  if (!memory) return memory.status();
  for (size_t i = 0; i < lightning_index_.size(); ++i)
    if (config_.layer_kinds[i] == LayerKind::lightning)
      M1_RETURN_IF_ERROR(gpu::fill_zero(slot_state(lightning_index_[i], memory->slot_),
                                        layer_slot_bytes(weights_.geometry), nullptr));
  return memory;
}

// Gives `copy` (no pages yet) the K/V of `source`: full pages shared, the partly filled last
// page copied into a free page.
Status GpuModel::share_pages(const GpuMemory & source, GpuMemory & copy) {
  const bool partial = source.n_tokens_ % kPageTokens != 0;
  if (partial && pool_->free_pages.empty())
    return Status::error("gpu model: no free K/V page for the forked sequence's last page (raise max_cached_tokens)");
  copy.n_tokens_ = source.n_tokens_;
  copy.pages_ = source.pages_;
  const size_t shared = partial ? source.pages_.size() - 1 : source.pages_.size();
  for (size_t p = 0; p < shared; ++p) ++pool_->page_refs[size_t(source.pages_[p])];
  if (!partial) return {};
  const int32_t page = pool_->free_pages.back();
  pool_->free_pages.pop_back();
  pool_->page_refs[size_t(page)] = 1;
  copy.pages_.back() = page;
  const size_t bytes = layer_page_bytes(weights_.geometry);
  for (const auto * pools : {&k_pages_, &v_pages_})
    for (const kernels::DeviceBuffer & pool : *pools)
      M1_RETURN_IF_ERROR(
          gpu::copy_2d(page_data(pool, page), bytes, page_data(pool, source.pages_.back()), bytes, bytes, 1, nullptr));
  return {};
}

Expected<GpuMemory> GpuModel::fork_memory(const GpuMemory & source) {
  M1_RETURN_IF_ERROR(use_device());
  if (source.pool_ != pool_ || source.slot_ < 0)
    return Status::error("gpu model: fork of a memory this model did not make, or one without a slot");
  if (source.n_tokens_ % kPageTokens != 0 && pool_->free_pages.empty())
    return Status::error("gpu model: no free K/V page for the forked sequence's last page (raise max_cached_tokens)");
  Expected<GpuMemory> copy = take_slot();
  if (!copy) return copy.status();
  for (size_t i = 0; i < lightning_index_.size(); ++i) {
    if (config_.layer_kinds[i] != LayerKind::lightning) continue;
    const size_t bytes = layer_slot_bytes(weights_.geometry);
    M1_RETURN_IF_ERROR(gpu::copy_2d(slot_state(lightning_index_[i], copy->slot_), bytes,
                                    slot_state(lightning_index_[i], source.slot_), bytes, bytes, 1, nullptr));
  }
  M1_RETURN_IF_ERROR(share_pages(source, *copy));
  return copy;
}

Expected<GpuMemory> GpuModel::fork_pages(const GpuMemory & source) {
  M1_RETURN_IF_ERROR(use_device());
  if (source.pool_ != pool_) return Status::error("gpu model: fork of a memory this model did not make");
  GpuMemory copy;
  copy.pool_ = pool_;
  M1_RETURN_IF_ERROR(share_pages(source, copy));
  return copy;
}

Status GpuModel::download_states(const GpuMemory & memory, std::span<std::uint8_t> out) const {
  M1_RETURN_IF_ERROR(use_device());
  if (memory.pool_ != pool_ || memory.slot_ < 0 || out.size() != slot_bytes())
    return Status::error("gpu model: download_states needs a memory of this model with a slot and " +
                         std::to_string(slot_bytes()) + " bytes of room");
  const size_t bytes = layer_slot_bytes(weights_.geometry);
  for (size_t i = 0; i < lightning_index_.size(); ++i)
    if (config_.layer_kinds[i] == LayerKind::lightning)
      M1_RETURN_IF_ERROR(gpu::copy_to_host(out.data() + size_t(lightning_index_[i]) * bytes,
                                           slot_state(lightning_index_[i], memory.slot_), bytes));
  return {};
}

Status GpuModel::attach_slot(GpuMemory & memory, std::span<const std::uint8_t> states) {
  M1_RETURN_IF_ERROR(use_device());
  if (memory.pool_ != pool_ || memory.slot_ >= 0 || states.size() != slot_bytes())
    return Status::error("gpu model: attach_slot needs a memory of this model without a slot and " +
                         std::to_string(slot_bytes()) + " bytes of states");
  if (pool_->free_slots.empty())
    return Status::error("gpu model: all " + std::to_string(options_.max_sequences) +
                         " sequence slots are in use (raise max_sequences)");
  const int slot = pool_->free_slots.back();
  const size_t bytes = layer_slot_bytes(weights_.geometry);
  for (size_t i = 0; i < lightning_index_.size(); ++i) {
    if (config_.layer_kinds[i] != LayerKind::lightning) continue;
    M1_RETURN_IF_ERROR(gpu::copy_to_device(slot_state(lightning_index_[i], slot),
                                           states.data() + size_t(lightning_index_[i]) * bytes, bytes));
  }
  pool_->free_slots.pop_back();
  memory.slot_ = slot;
  return {};
}

void GpuModel::take_pages(GpuMemory & memory, int64_t n_tokens) {
  while (int64_t(memory.pages_.size()) * kPageTokens < n_tokens) {
    memory.pages_.push_back(pool_->free_pages.back());
    pool_->free_pages.pop_back();
    pool_->page_refs[size_t(memory.pages_.back())] = 1;
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
    if (in.memory->slot_ < 0) return Status::error(where + "memory has no lightning state slot (attach_slot first)");
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
