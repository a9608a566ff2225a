#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

namespace m1::kernels::cpu {

void rope_neox(float * x, int ld, int n_tokens, int n_heads, int head_dim, int rotary_dim,
               int64_t first_position, double theta) {
  const int half = rotary_dim / 2;
  std::vector<double> inv_freq(half);
  for (int j = 0; j < half; ++j) inv_freq[j] = std::pow(theta, -2.0 * j / rotary_dim);
  std::vector<float> cos_t(half), sin_t(half);
  for (int i = 0; i < n_tokens; ++i) {
    const double pos = double(first_position + i);
    for (int j = 0; j < half; ++j) {
      const double angle = pos * inv_freq[j];
      cos_t[j] = float(std::cos(angle));
      sin_t[j] = float(std::sin(angle));
    }
    float * row = x + size_t(i) * ld;
    for (int h = 0; h < n_heads; ++h) {
      float * head = row + size_t(h) * head_dim;
      for (int j = 0; j < half; ++j) {
        const float a = head[j], b = head[j + half];
        head[j] = a * cos_t[j] - b * sin_t[j];
        head[j + half] = b * cos_t[j] + a * sin_t[j];
      }
    }
  }
}

}  // namespace m1::kernels::cpu
