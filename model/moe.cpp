#include "model/moe.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"

namespace m1 {

namespace cpu = kernels::cpu;

namespace {

// Fills ws.rows / ws.weights from the router probabilities.
void route(const ModelConfig & c, int T, MoeWorkspace & ws) {
  const int E = c.n_experts, k = c.n_experts_per_token;
  ws.rows.assign(E, {});
  ws.weights.assign(E, {});
  std::vector<int> order(E);
  for (int t = 0; t < T; ++t) {
    const float * p = ws.probs.data() + size_t(t) * E;
    std::iota(order.begin(), order.end(), 0);
    // Highest probability first; ties go to the lower expert index, as torch.topk does on CPU.
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int x, int y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
    float sum = 0.0f;
    for (int i = 0; i < k; ++i) sum += p[order[i]];
    for (int i = 0; i < k; ++i) {
      ws.rows[order[i]].push_back(t);
      ws.weights[order[i]].push_back(p[order[i]] / sum);
    }
  }
}

}  // namespace

void moe_forward(const LayerContext & ctx, const MoeWeights & w, const float * b, float * out, MoeWorkspace & ws) {
  const ModelConfig & c = ctx.config;
  const int D = c.hidden_size, E = c.n_experts, F = c.expert_ffn, T = ctx.n_rows;
  ws.probs.resize(size_t(T) * E);
  cpu::matmul_nt(b, w.router.data(), ws.probs.data(), T, E, D);
  for (int t = 0; t < T; ++t) cpu::softmax(ws.probs.data() + size_t(t) * E, E);
  route(c, T, ws);

  std::memset(out, 0, sizeof(float) * size_t(T) * D);
  for (int e = 0; e < E; ++e) {
    const std::vector<int> & rows = ws.rows[e];
    const int n = int(rows.size());
    if (n == 0) continue;
    ws.x.resize(size_t(n) * D);
    ws.hidden.resize(size_t(n) * 2 * F);
    ws.y.resize(size_t(n) * D);
    for (int i = 0; i < n; ++i) std::memcpy(ws.x.data() + size_t(i) * D, b + size_t(rows[i]) * D, sizeof(float) * D);
    const float * gate_up = w.gate_up.data() + size_t(e) * 2 * F * D;
    cpu::matmul_nt(ws.x.data(), gate_up, ws.hidden.data(), n, 2 * F, D);
    for (int i = 0; i < n; ++i) {
      float * h = ws.hidden.data() + size_t(i) * 2 * F;
      cpu::swiglu(h, h + F, h, size_t(F));  // activation into the gate half; row stride stays 2F
    }
    cpu::matmul_nt(ws.hidden.data(), 2 * F, w.down.data() + size_t(e) * D * F, F, ws.y.data(), D, n, D, F);
    for (int i = 0; i < n; ++i) {
      float * o = out + size_t(rows[i]) * D;
      const float * y = ws.y.data() + size_t(i) * D;
      const float weight = ws.weights[e][i];
      for (int j = 0; j < D; ++j) o[j] += weight * y[j];
    }
  }
}

}  // namespace m1
