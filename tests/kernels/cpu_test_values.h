// Random inputs and the error measure shared by the CPU kernel tests.
#pragma once

#include <cmath>
#include <random>
#include <vector>

namespace m1::test {

inline std::vector<float> random_values(size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float & x : v) x = normal(rng);
  return v;
}

// ||a - b|| / ||b||
inline double relative_error(const std::vector<float> & a, const std::vector<double> & b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace m1::test
