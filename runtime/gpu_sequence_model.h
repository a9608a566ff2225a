// The GPU M1 network (model/gpu_model.h) behind the engine's SequenceModel seam, so m1::Engine
// runs on a GPU when EngineOptions::devices names one.
//
// A state lives in one of three forms. On the device it is a GpuMemory: a lightning state slot
// and K/V pages, forked by a device copy of the slot with the full pages shared (reference
// counted; a full page never changes again) and the partly filled last page copied (the next
// token is written into it). Where no slot is free (beyond a reserve kept for sessions to come
// onto the device), a fork keeps the shared pages but its lightning states in host memory (a
// fixed size: a snapshot of a long session costs no more than one of a short one), and takes a
// slot at its first forward. A restored snapshot, or a fork with no page free for its last page,
// is kept as host bytes and goes onto the device whole at its first forward. When a forward needs a slot or pages that are not free, the sessions'
// states that have run least recently (not snapshots, whose bytes the state cache counts on the
// device) move to host bytes to make room, so an engine can hold more sessions than slots. Host bytes are GpuModel::serialize_memory's format, which is also what
// serialize() gives: a state saved on the GPU restores on the GPU bit-identically.
//
// The GpuModel is not thread-safe and states are forked, serialized and destroyed on callers'
// threads as well as the engine thread: every operation that touches the device or the slot and
// page bookkeeping takes the model's lock.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "model/gpu_model.h"
#include "runtime/gpu_sampler.h"
#include "runtime/sequence_model.h"

namespace m1 {

struct GpuSequenceModelOptions {
  int device = 0;
  int max_sequences = 32;             // lightning state slots: sessions on the device + device snapshots
  int64_t max_cached_tokens = 65536;  // K/V capacity over all of them (shared pages count once)
  int reserved_slots = 8;             // slots a fork leaves free for sessions to come onto the device
  bool progress = true;               // weight-loading progress bar
};

class GpuSequenceState;

// The model and the lock; shared by the GpuSequenceModel and every state it made.
struct GpuEngineCore {
  std::mutex mu;
  std::unique_ptr<GpuModel> model;
  int device = 0;
  int reserved_slots = 0;
  // Takes the lock and makes the model's device current on the calling thread.
  std::unique_lock<std::mutex> enter();
  // States on the device that a forward has run (sessions), least recently run last: what may
  // move to host bytes when a forward needs room.
  std::list<GpuSequenceState *> ran;
};

class GpuSequenceState : public SequenceState {
public:
  GpuSequenceState(std::shared_ptr<GpuEngineCore> core, GpuMemory memory);
  // Pages only (GpuModel::fork_pages), with the lightning states on the host.
  GpuSequenceState(std::shared_ptr<GpuEngineCore> core, GpuMemory pages, std::vector<std::uint8_t> states);
  GpuSequenceState(std::shared_ptr<GpuEngineCore> core, std::vector<std::uint8_t> host, size_t n_tokens);
  ~GpuSequenceState() override;

  size_t n_tokens() const override { return n_tokens_; }
  size_t byte_size() const override;  // where it lives now: device slot and pages, or host bytes
  size_t private_bytes() const override;  // on the device: the slot and a partly filled last page
  size_t host_bytes() const override;     // the lightning states (no slot) or all of it (no pages)
  void visit_shared_blocks(const std::function<void(const void *, size_t)> & visit) const override;  // full pages
  // GpuModel::serialize_memory's bytes; a device error while copying them out is the error.
  Expected<std::vector<std::uint8_t>> serialize() const override;
  Expected<std::unique_ptr<SequenceState>> fork() const override;

  bool on_device() const;  // a slot and pages: ready to run

private:
  friend class GpuSequenceModel;
  // Under core_->mu.
  size_t bytes_locked() const;
  bool has_slot() const { return !memory_.empty() && memory_.slot() >= 0; }
  Status bring_to_device();
  Status move_to_host();
  void mark_ran();  // most recently run
  void unmark_ran();

  std::shared_ptr<GpuEngineCore> core_;
  GpuMemory memory_;                  // K/V pages and (on the device) a slot; or empty
  std::vector<std::uint8_t> states_;  // the lightning states while memory_ has pages but no slot
  std::vector<std::uint8_t> host_;    // while memory_ is empty: serialized bytes (none: the empty sequence)
  size_t n_tokens_ = 0;
  bool in_ran_ = false;
  std::list<GpuSequenceState *>::iterator ran_at_;
};

class GpuSequenceModel : public SequenceModel {
public:
  // Opens the model directory on the device; errors say why CUDA or the device is not usable.
  static Expected<std::unique_ptr<GpuSequenceModel>> open(const std::string & model_dir,
                                                          const GpuSequenceModelOptions & options);

  size_t vocab_size() const override;
  std::unique_ptr<SequenceState> new_state() const override;
  Expected<std::unique_ptr<SequenceState>> deserialize_state(std::span<const std::uint8_t> bytes) const override;
  Status forward(std::span<const Item> batch) override;
  // The device sampler (runtime/gpu_sampler.h): a decode step then copies back token ids and
  // logprobs instead of vocabulary rows.
  Status enable_sampling(const TokenMask & mask) override;
  bool samples_next_token() const override { return sampler_ != nullptr; }

  GpuModel & model() { return *core_->model; }

private:
  explicit GpuSequenceModel(std::shared_ptr<GpuEngineCore> core) : core_(std::move(core)) {}
  Status make_room(std::span<const Item> batch, size_t next);  // slot and pages for batch[next]
  Status make_room_for_new_tokens(std::span<const Item> batch);
  Status free_device_room(std::span<const Item> batch, const std::function<bool()> & enough);
  Status sample_on_device(std::span<const Item> batch);  // after the forward, under the lock
  std::shared_ptr<GpuEngineCore> core_;
  std::unique_ptr<GpuSampler> sampler_;
};

}  // namespace m1
