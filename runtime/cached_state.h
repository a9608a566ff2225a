// What a snapshot holds, as the state cache sees it: something with a size that can be turned
// into bytes and back. The engine wraps a model::SequenceMemory in it; the cache never needs to
// know the layer math (and its tests use a plain byte buffer).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"

namespace m1 {

class CachedState {
public:
  virtual ~CachedState() = default;
  // All the bytes of the state (what a serialized copy costs in host RAM or on disk).
  virtual size_t byte_size() const = 0;
  // Live states may share blocks (KV pages shared copy-on-write between forks and snapshots):
  // the device tier counts each shared block once. private_bytes() + the visited blocks' bytes
  // = byte_size(); a block's address identifies it while any state holds it.
  virtual size_t private_bytes() const { return byte_size(); }
  virtual void visit_shared_blocks(const std::function<void(const void * block, size_t bytes)> &) const {}
  // Bytes a live state keeps in host memory instead of on the device (a GPU state waiting for a
  // slot holds its lightning states there); not part of private_bytes(). The cache counts them in
  // its host tier while the state sits in the device tier.
  virtual size_t host_bytes() const { return 0; }
  // The exact bytes of the state; decoding them gives a state that continues bit-identically.
  // Fails where the bytes live on a device that reports an error while they are copied out.
  virtual Expected<std::vector<std::uint8_t>> serialize() const = 0;
};

using StateDecoder =
    std::function<Expected<std::shared_ptr<const CachedState>>(std::span<const std::uint8_t>)>;

}  // namespace m1
