#include "kernels/cpu/lightning.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/gemm.h"

namespace m1::kernels::cpu {

void lightning_recurrence(const float * q, const float * k, const float * v, int ld_in, float * o,
                          int ld_out, int n, int head_dim, float * state, double slope) {
  const int d = head_dim;
  const float lambda = float(std::exp(-slope));
  for (int t = 0; t < n; ++t) {
    const float * qt = q + size_t(t) * ld_in;
    const float * kt = k + size_t(t) * ld_in;
    const float * vt = v + size_t(t) * ld_in;
    float * ot = o + size_t(t) * ld_out;
    std::memset(ot, 0, sizeof(float) * d);
    for (int i = 0; i < d; ++i) {
      float * row = state + size_t(i) * d;
      const float ki = kt[i], qi = qt[i];
      for (int j = 0; j < d; ++j) {
        row[j] = lambda * row[j] + ki * vt[j];
        ot[j] += qi * row[j];
      }
    }
  }
}

// One block of m <= block tokens.
static void lightning_block(const float * q, const float * k, const float * v, int ld_in, float * o,
                            int ld_out, int m, int d, float * state, double slope,
                            LightningScratch & s) {
  // Inter-block part: o_i = lambda^(i+1) q_i S_prev.
  matmul_nn(q, ld_in, state, d, o, ld_out, m, d, d);
  for (int i = 0; i < m; ++i) {
    const float decay = float(std::exp(-slope * (i + 1)));
    float * oi = o + size_t(i) * ld_out;
    for (int j = 0; j < d; ++j) oi[j] *= decay;
  }
  // Intra-block part: scores (q_i . k_j) lambda^(i-j) for j <= i, zero above the diagonal.
  float * scores = s.scores.data();
  matmul_nt(q, ld_in, k, ld_in, scores, m, m, m, d);
  for (int dist = 0; dist < m; ++dist) s.decay[dist] = float(std::exp(-slope * dist));
  for (int i = 0; i < m; ++i) {
    float * row = scores + size_t(i) * m;
    for (int j = 0; j <= i; ++j) row[j] *= s.decay[i - j];
    for (int j = i + 1; j < m; ++j) row[j] = 0.0f;
  }
  matmul_nn(scores, m, v, ld_in, o, ld_out, m, d, m, 1.0f);
  // State: S = lambda^m S + sum_j lambda^(m-1-j) k_j^T v_j.
  float * keys = s.scaled_keys.data();
  for (int j = 0; j < m; ++j) {
    const float decay = s.decay[m - 1 - j];
    const float * kj = k + size_t(j) * ld_in;
    for (int c = 0; c < d; ++c) keys[size_t(j) * d + c] = kj[c] * decay;
  }
  matmul_tn(keys, d, v, ld_in, state, d, d, d, m, float(std::exp(-slope * m)));
}

void lightning_blockwise(const float * q, const float * k, const float * v, int ld_in, float * o,
                         int ld_out, int n, int head_dim, float * state, double slope, int block,
                         LightningScratch & scratch) {
  block = std::max(1, std::min(block, n));
  scratch.scores.resize(size_t(block) * block);
  scratch.scaled_keys.resize(size_t(block) * head_dim);
  scratch.decay.resize(block);
  for (int start = 0; start < n; start += block) {
    const int m = std::min(block, n - start);
    const size_t in = size_t(start) * ld_in, out = size_t(start) * ld_out;
    lightning_block(q + in, k + in, v + in, ld_in, o + out, ld_out, m, head_dim, state, slope,
                    scratch);
  }
}

}  // namespace m1::kernels::cpu
