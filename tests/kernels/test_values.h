// Random inputs and the error measure shared by the CPU and GPU kernel tests.
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

// ||got - want|| / ||want|| (Frobenius), NaN when got holds a NaN; got may be float or double.
template <typename T> double relative_error(const std::vector<T> & got, const std::vector<double> & want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

}  // namespace m1::test
