// The random source of sampling: xoshiro256** seeded through splitmix64, so a seed gives the same
// draws on every platform and standard library (std::uniform_real_distribution does not).
#pragma once

#include <cstdint>

namespace m1 {

class SamplingRng {
public:
  explicit SamplingRng(std::uint64_t seed);

  std::uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

private:
  std::uint64_t state_[4];
};

}  // namespace m1
