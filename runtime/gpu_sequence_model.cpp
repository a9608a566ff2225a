// GpuSequenceModel and its states: where a state lives (device slot and pages, or host bytes until
// its next forward), forks, bytes, and the batched forward under the model's lock.
#include "runtime/gpu_sequence_model.h"

#include <filesystem>

#include "kernels/device_info.h"
#include "kernels/device_memory.h"

namespace m1 {

std::unique_lock<std::mutex> GpuEngineCore::enter() {
  std::unique_lock lock(mu);
  (void)kernels::make_device_current(device);  // a failure shows in the device call that follows
  return lock;
}

GpuSequenceState::GpuSequenceState(std::shared_ptr<GpuEngineCore> core, GpuMemory memory)
    : core_(std::move(core)), memory_(std::move(memory)), n_tokens_(size_t(memory_.n_tokens())) {}

GpuSequenceState::GpuSequenceState(std::shared_ptr<GpuEngineCore> core, GpuMemory pages,
                                   std::vector<std::uint8_t> states)
    : core_(std::move(core)), memory_(std::move(pages)), states_(std::move(states)),
      n_tokens_(size_t(memory_.n_tokens())) {}

GpuSequenceState::GpuSequenceState(std::shared_ptr<GpuEngineCore> core, std::vector<std::uint8_t> host,
                                   size_t n_tokens)
    : core_(std::move(core)), host_(std::move(host)), n_tokens_(n_tokens) {}

GpuSequenceState::~GpuSequenceState() {
  std::lock_guard lock(core_->mu);
  unmark_ran();
  memory_ = GpuMemory();  // the slot and pages go back under the lock
}

bool GpuSequenceState::on_device() const {
  std::lock_guard lock(core_->mu);
  return has_slot();
}

size_t GpuSequenceState::bytes_locked() const {
  if (memory_.empty()) return host_.empty() ? core_->model->serialized_bytes(0) : host_.size();
  return core_->model->slot_bytes() + memory_.pages().size() * core_->model->page_bytes();
}

size_t GpuSequenceState::byte_size() const {
  std::lock_guard lock(core_->mu);
  return bytes_locked();
}

size_t GpuSequenceState::private_bytes() const {
  std::lock_guard lock(core_->mu);
  if (memory_.empty()) return 0;  // all in host memory (host_bytes)
  const bool partial = memory_.n_tokens() % GpuModel::kPageTokens != 0;
  return (has_slot() ? core_->model->slot_bytes() : 0) + (partial ? core_->model->page_bytes() : 0);
}

size_t GpuSequenceState::host_bytes() const {
  std::lock_guard lock(core_->mu);
  if (memory_.empty()) return bytes_locked();
  return has_slot() ? 0 : states_.size();
}

void GpuSequenceState::visit_shared_blocks(const std::function<void(const void *, size_t)> & visit) const {
  std::lock_guard lock(core_->mu);
  if (memory_.empty()) return;
  const std::vector<int32_t> & pages = memory_.pages();
  const size_t full = size_t(memory_.n_tokens() / GpuModel::kPageTokens);
  for (size_t p = 0; p < full && p < pages.size(); ++p)
    visit(core_->model->page_address(pages[p]), core_->model->page_bytes());
}

void GpuSequenceState::mark_ran() {
  unmark_ran();
  core_->ran.push_front(this);
  ran_at_ = core_->ran.begin();
  in_ran_ = true;
}

void GpuSequenceState::unmark_ran() {
  if (!in_ran_) return;
  core_->ran.erase(ran_at_);
  in_ran_ = false;
}

Expected<std::vector<std::uint8_t>> GpuSequenceState::serialize() const {
  auto lock = core_->enter();
  if (memory_.empty()) return host_.empty() ? core_->model->empty_memory_bytes() : host_;
  Expected<std::vector<std::uint8_t>> bytes = core_->model->serialize_memory(memory_, states_);
  if (!bytes) return bytes.status().with_context("gpu engine: copying a sequence's memory to the host");
  return bytes;
}

Expected<std::unique_ptr<SequenceState>> GpuSequenceState::fork() const {
  auto lock = core_->enter();
  GpuModel & model = *core_->model;
  if (memory_.empty()) return std::unique_ptr<SequenceState>(std::make_unique<GpuSequenceState>(core_, host_, n_tokens_));
  if (has_slot() && model.free_slots() > core_->reserved_slots) {
    Expected<GpuMemory> copy = model.fork_memory(memory_);
    if (copy) return std::unique_ptr<SequenceState>(std::make_unique<GpuSequenceState>(core_, std::move(*copy)));
  }
  // No slot to spare: share the pages, keep the lightning states on the host.
  Expected<GpuMemory> pages = model.fork_pages(memory_);
  if (pages) {
    std::vector<std::uint8_t> states = states_;
    Status copied;
    if (has_slot()) {
      states.resize(model.slot_bytes());
      copied = model.download_states(memory_, states);
    }
    if (copied.ok())
      return std::unique_ptr<SequenceState>(std::make_unique<GpuSequenceState>(core_, std::move(*pages), std::move(states)));
  }
  // No page either: the whole copy waits in host memory until it is used.
  Expected<std::vector<std::uint8_t>> bytes = model.serialize_memory(memory_, states_);
  if (!bytes) return bytes.status().with_context("gpu engine: forking a sequence into host memory");
  return std::unique_ptr<SequenceState>(std::make_unique<GpuSequenceState>(core_, std::move(*bytes), n_tokens_));
}

Status GpuSequenceState::move_to_host() {
  Expected<std::vector<std::uint8_t>> bytes = core_->model->serialize_memory(memory_, states_);
  if (!bytes) return bytes.status().with_context("gpu engine: moving an idle session to host memory");
  host_ = std::move(*bytes);
  memory_ = GpuMemory();
  states_ = std::vector<std::uint8_t>();
  unmark_ran();
  return Status();
}

Status GpuSequenceState::bring_to_device() {
  if (has_slot()) return Status();
  GpuModel & model = *core_->model;
  const std::string where = "gpu engine: bringing a sequence onto the device (" + std::to_string(model.free_slots()) +
                            " of " + std::to_string(model.max_sequences()) +
                            " slots free; sessions and cached snapshots hold the rest)";
  if (!memory_.empty()) {
    M1_RETURN_IF_ERROR(model.attach_slot(memory_, states_).with_context(where));
    states_ = std::vector<std::uint8_t>();
    return Status();
  }
  if (host_.empty() && n_tokens_ > 0)
    return Status::error("gpu engine: this sequence's memory could not be copied off the device earlier");
  Expected<GpuMemory> memory = host_.empty() ? model.new_memory() : model.deserialize_memory(host_);
  if (!memory) return memory.status().with_context(where);
  memory_ = std::move(*memory);
  host_ = std::vector<std::uint8_t>();
  return Status();
}

Expected<std::unique_ptr<GpuSequenceModel>> GpuSequenceModel::open(const std::string & model_dir,
                                                                   const GpuSequenceModelOptions & options) {
  const std::string what = "engine: device cuda:" + std::to_string(options.device);
  const kernels::AcceleratorReport report = kernels::probe_accelerators();
  if (!report.cuda_built)
    return Status::error(what + ": this m1 was built without CUDA (" + report.cuda_reason + ")");
  if (options.device < 0 || size_t(options.device) >= report.devices.size())
    return Status::error(what + ": no such device (" + std::to_string(report.devices.size()) + " found" +
                         (report.cuda_reason.empty() ? "" : ": " + report.cuda_reason) + ")");
  if (options.reserved_slots < 0 || options.reserved_slots >= options.max_sequences)
    return Status::error(what + ": reserved slots must be in [0, max sequences)");
  GpuModelOptions model_options;
  model_options.device = options.device;
  model_options.max_sequences = options.max_sequences;
  model_options.max_cached_tokens = options.max_cached_tokens;
  model_options.progress = options.progress;
  Expected<std::unique_ptr<GpuModel>> model = GpuModel::open(model_dir, model_options);
  if (!model) return model.status().with_context(what);
  auto core = std::make_shared<GpuEngineCore>();
  core->model = std::move(*model);
  core->device = options.device;
  core->reserved_slots = options.reserved_slots;
  return std::unique_ptr<GpuSequenceModel>(new GpuSequenceModel(std::move(core)));
}

size_t GpuSequenceModel::vocab_size() const { return size_t(core_->model->config().vocab_size); }

std::unique_ptr<SequenceState> GpuSequenceModel::new_state() const {
  return std::make_unique<GpuSequenceState>(core_, std::vector<std::uint8_t>(), 0);
}

Expected<std::unique_ptr<SequenceState>> GpuSequenceModel::deserialize_state(std::span<const std::uint8_t> bytes) const {
  auto lock = core_->enter();
  GpuModel & model = *core_->model;
  Expected<int64_t> n_tokens = model.check_serialized(bytes);
  if (!n_tokens) return n_tokens.status();
  if (model.free_slots() > core_->reserved_slots) {
    Expected<GpuMemory> memory = model.deserialize_memory(bytes);
    if (memory) return std::unique_ptr<SequenceState>(std::make_unique<GpuSequenceState>(core_, std::move(*memory)));
  }
  return std::unique_ptr<SequenceState>(
      std::make_unique<GpuSequenceState>(core_, std::vector<std::uint8_t>(bytes.begin(), bytes.end()), size_t(*n_tokens)));
}

namespace {

GpuSequenceState * state_of(const SequenceModel::Item & item) {
  // Every state this model hands out is a GpuSequenceState (new_state, deserialize_state, fork).
  return static_cast<GpuSequenceState *>(item.state);
}

bool in_batch(std::span<const SequenceModel::Item> batch, const GpuSequenceState * state) {
  for (const SequenceModel::Item & item : batch)
    if (state_of(item) == state) return true;
  return false;
}

}  // namespace

// Moves sessions that ran least recently (and are not in this batch) to host bytes until
// `enough` holds or none is left.
Status GpuSequenceModel::free_device_room(std::span<const Item> batch, const std::function<bool()> & enough) {
  std::vector<GpuSequenceState *> candidates;
  for (auto it = core_->ran.rbegin(); it != core_->ran.rend(); ++it)
    if (!in_batch(batch, *it)) candidates.push_back(*it);
  for (GpuSequenceState * victim : candidates) {
    if (enough()) break;
    M1_RETURN_IF_ERROR(victim->move_to_host());
  }
  return Status();
}

Status GpuSequenceModel::make_room(std::span<const Item> batch, size_t next) {
  GpuSequenceState * state = state_of(batch[next]);
  if (state->has_slot()) return Status();
  GpuModel & model = *core_->model;
  const int pages =
      state->memory_.empty() ? int((state->n_tokens_ + GpuModel::kPageTokens - 1) / GpuModel::kPageTokens) : 0;
  return free_device_room(batch, [&] { return model.free_slots() > 0 && model.free_pages() >= pages; });
}

Status GpuSequenceModel::make_room_for_new_tokens(std::span<const Item> batch) {
  int64_t needed = 0;
  for (const Item & item : batch) {
    const GpuMemory & m = state_of(item)->memory_;
    const int64_t total = m.n_tokens() + int64_t(item.tokens.size());
    needed += (total + GpuModel::kPageTokens - 1) / GpuModel::kPageTokens - int64_t(m.pages().size());
  }
  return free_device_room(batch, [&] { return core_->model->free_pages() >= needed; });
}

Status GpuSequenceModel::forward(std::span<const Item> batch) {
  auto lock = core_->enter();
  for (size_t i = 0; i < batch.size(); ++i) {
    M1_RETURN_IF_ERROR(make_room(batch, i));
    M1_RETURN_IF_ERROR(state_of(batch[i])->bring_to_device());
  }
  M1_RETURN_IF_ERROR(make_room_for_new_tokens(batch));
  std::vector<GpuSequenceInput> inputs;
  inputs.reserve(batch.size());
  for (const Item & item : batch) {
    if (item.sample && !sampler_) return Status::error("gpu engine: a sample was asked for before enable_sampling");
    const bool rows = item.want_logits || item.sample;
    inputs.push_back({&state_of(item)->memory_, item.tokens, rows ? LogitRows::last : LogitRows::none,
                      item.sample != nullptr});
  }
  Expected<std::vector<SequenceLogits>> logits = core_->model->forward(inputs);
  if (!logits) return logits.status().with_context("gpu engine");
  for (size_t i = 0; i < batch.size(); ++i) {
    GpuSequenceState * state = state_of(batch[i]);
    state->n_tokens_ = size_t(state->memory_.n_tokens());
    state->mark_ran();
    if (batch[i].want_logits && !batch[i].sample) *batch[i].logits = std::move((*logits)[i].values);
  }
  return sample_on_device(batch);
}

Status GpuSequenceModel::enable_sampling(const TokenMask & mask) {
  auto lock = core_->enter();
  Expected<std::unique_ptr<GpuSampler>> sampler = GpuSampler::create(core_->device, vocab_size(), mask);
  if (!sampler) return sampler.status().with_context("gpu engine");
  sampler_ = std::move(*sampler);
  return Status();
}

// One sampler call per run of items whose logit rows lie next to each other on the device and
// that ask for the same number of alternatives (in a decode step: every item, one call).
Status GpuSequenceModel::sample_on_device(std::span<const Item> batch) {
  const int64_t vocab = int64_t(vocab_size());
  for (size_t i = 0; i < batch.size();) {
    if (!batch[i].sample) {
      ++i;
      continue;
    }
    const float * first = core_->model->device_logits(i);
    std::vector<GpuSampler::Row> rows{{batch[i].sample->params, batch[i].sample->uniform}};
    size_t end = i + 1;
    for (; end < batch.size() && batch[end].sample && batch[end].sample->n_top == batch[i].sample->n_top &&
           core_->model->device_logits(end) == first + int64_t(rows.size()) * vocab;
         ++end)
      rows.push_back({batch[end].sample->params, batch[end].sample->uniform});
    Expected<std::vector<SampledToken>> chosen = sampler_->sample(first, vocab, rows, batch[i].sample->n_top);
    if (!chosen) return chosen.status().with_context("gpu engine");
    for (size_t k = i; k < end; ++k) batch[k].sample->result = std::move((*chosen)[k - i]);
    i = end;
  }
  return Status();
}

}  // namespace m1
