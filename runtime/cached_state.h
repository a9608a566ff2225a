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
  // Bytes it occupies in the device tier (the budget is counted in these).
  virtual size_t byte_size() const = 0;
  // The exact bytes of the state; decoding them gives a state that continues bit-identically.
  virtual std::vector<std::uint8_t> serialize() const = 0;
};

using StateDecoder =
    std::function<Expected<std::shared_ptr<const CachedState>>(std::span<const std::uint8_t>)>;

}  // namespace m1
