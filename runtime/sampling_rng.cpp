#include "runtime/sampling_rng.h"

namespace m1 {

namespace {

std::uint64_t splitmix64(std::uint64_t & x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

SamplingRng::SamplingRng(std::uint64_t seed) {
  // splitmix64 never yields four zero words, the one state xoshiro must avoid.
  for (std::uint64_t & word : state_) word = splitmix64(seed);
}

std::uint64_t SamplingRng::next() {
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

}  // namespace m1
