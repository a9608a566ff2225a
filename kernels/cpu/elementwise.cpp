#include "kernels/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

namespace m1::kernels::cpu {

void rmsnorm(const float * x, int ldx, const float * weight, float * y, int ldy, int n_rows, int n,
             double eps) {
  for (int r = 0; r < n_rows; ++r) {
    const float * xr = x + size_t(r) * ldx;
    float * yr = y + size_t(r) * ldy;
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += double(xr[i]) * xr[i];
    const float scale = float(1.0 / std::sqrt(sum / n + eps));
    for (int i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * weight[i];
  }
}

void silu(float * x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void sigmoid_gate(const float * g, float * y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] *= 1.0f / (1.0f + std::exp(-g[i]));
}

void swiglu(const float * gate, const float * up, float * y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax(float * x, int n) {
  if (n <= 0) return;
  const float top = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - top);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

void scaled_sum(float alpha, const float * a, float beta, const float * b, float * y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = alpha * a[i] + beta * b[i];
}

}  // namespace m1::kernels::cpu
