// Each layer of the CPU forward against a direct float64 implementation of its token-by-token
// formula (M1_SPEC.md section 4), on random weights, with a batch of two sequences: one in
// prefill (several tokens, block-wise path) and one decoding (one token, recurrence path), both
// starting from non-empty memories.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cpu/thread_pool.h"
#include "model/lightning_attention.h"
#include "model/moe.h"
#include "model/softmax_attention.h"

namespace {

using Mat = std::vector<double>;

std::vector<float> random_values(size_t n, unsigned seed, double scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, float(scale));
  std::vector<float> v(n);
  for (float & x : v) x = normal(rng);
  return v;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// y[n_out] = W [n_out, n_in] x
std::vector<double> linear(const std::vector<float> & w, const double * x, int n_out, int n_in) {
  std::vector<double> y(n_out, 0.0);
  for (int o = 0; o < n_out; ++o)
    for (int i = 0; i < n_in; ++i) y[o] += double(w[size_t(o) * n_in + i]) * x[i];
  return y;
}

double relative_error(const float * a, const double * b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  return std::sqrt(num / den);
}

m1::ModelConfig small_config() {
  m1::ModelConfig c;
  c.hidden_size = 24;
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.rotary_dim = 4;
  c.rope_theta = 1e4;
  c.n_experts = 5;
  c.n_experts_per_token = 2;
  c.expert_ffn = 12;
  c.layer_kinds = {m1::LayerKind::lightning, m1::LayerKind::softmax, m1::LayerKind::lightning};
  return c;
}

struct Batch {
  std::vector<m1::SequenceMemory> memories;
  std::vector<m1::SequenceRows> rows;
  int n_rows = 0;
};

// Sequence 0: 11 new tokens after 5 past ones; sequence 1: 1 new token after 9 past ones.
Batch make_batch(const m1::ModelConfig & c) {
  Batch b;
  b.memories = {m1::SequenceMemory(m1::MemoryShape::of(c)), m1::SequenceMemory(m1::MemoryShape::of(c))};
  b.memories[0].advance(5);
  b.memories[1].advance(9);
  b.rows = {{0, 11, 5, &b.memories[0]}, {11, 1, 9, &b.memories[1]}};
  b.n_rows = 12;
  return b;
}

TEST(LayerLightning, MatchesTheTokenByTokenFormula) {
  const m1::ModelConfig c = small_config();
  const int D = c.hidden_size, H = c.n_heads, d = c.head_dim, Hd = H * d, layer = 2;
  m1::LightningWeights w{random_values(size_t(3) * Hd * D, 1, 1 / std::sqrt(D)), random_values(size_t(Hd) * D, 2, 1 / std::sqrt(D)),
                         random_values(Hd, 3, 0.2), random_values(size_t(D) * Hd, 4, 1 / std::sqrt(Hd))};
  for (float & x : w.norm) x += 1.0f;
  Batch batch = make_batch(c);
  std::vector<std::vector<double>> states;
  for (auto & m : batch.memories) {  // non-zero starting states
    const auto s0 = random_values(size_t(H) * d * d, 5 + states.size(), 0.3);
    std::copy(s0.begin(), s0.end(), m.lightning_state(layer));
    states.emplace_back(s0.begin(), s0.end());
  }
  const auto a = random_values(size_t(batch.n_rows) * D, 7, 1.0);
  std::vector<float> out(size_t(batch.n_rows) * D);
  m1::kernels::cpu::ThreadPool pool(2);
  m1::LightningWorkspace ws;
  m1::LayerContext ctx{c, layer, batch.rows, batch.n_rows, 4, pool};
  m1::lightning_attention_forward(ctx, w, a.data(), out.data(), ws);

  for (size_t s = 0; s < batch.rows.size(); ++s) {
    std::vector<double> & S = states[s];
    for (int t = batch.rows[s].row_begin; t < batch.rows[s].row_begin + batch.rows[s].n_rows; ++t) {
      const double * x = nullptr;
      std::vector<double> at(a.begin() + size_t(t) * D, a.begin() + size_t(t + 1) * D);
      x = at.data();
      std::vector<double> qkv = linear(w.qkv, x, 3 * Hd, D);
      for (double & v : qkv) v = v * sigmoid(v);
      std::vector<double> o(Hd, 0.0);
      for (int h = 0; h < H; ++h) {
        const double lambda = std::exp(-c.lightning_slope(layer, h));
        const double * q = &qkv[size_t(3 * d) * h], * k = q + d, * v = q + 2 * d;
        for (int i = 0; i < d; ++i)
          for (int j = 0; j < d; ++j) {
            double & sij = S[(size_t(h) * d + i) * d + j];
            sij = lambda * sij + k[i] * v[j];
            o[size_t(h) * d + j] += q[i] * sij;
          }
      }
      double ms = 0;
      for (double v : o) ms += v * v;
      const double inv = 1.0 / std::sqrt(ms / Hd + 1e-6);
      const std::vector<double> gate = linear(w.output_gate, x, Hd, D);
      for (int i = 0; i < Hd; ++i) o[i] = o[i] * inv * w.norm[i] * sigmoid(gate[i]);
      const std::vector<double> y = linear(w.out_proj, o.data(), D, Hd);
      EXPECT_LT(relative_error(out.data() + size_t(t) * D, y.data(), D), 1e-5) << "row " << t;
    }
    EXPECT_LT(relative_error(batch.memories[s].lightning_state(layer), S.data(), S.size()), 1e-5);
  }
}

TEST(LayerSoftmax, MatchesDirectCausalGqaWithPartialRope) {
  const m1::ModelConfig c = small_config();
  const int D = c.hidden_size, H = c.n_heads, d = c.head_dim, Hkv = c.n_kv_heads, layer = 1, r = c.rotary_dim;
  m1::SoftmaxWeights w{random_values(size_t(H) * d * D, 11, 0.3), random_values(size_t(Hkv) * d * D, 12, 0.3),
                       random_values(size_t(Hkv) * d * D, 13, 0.3), random_values(size_t(D) * H * d, 14, 0.3)};
  Batch batch = make_batch(c);
  // Past K/V (already rotated, as the memory stores them) for each sequence.
  std::vector<std::vector<double>> keys(2), values(2);
  for (size_t s = 0; s < 2; ++s) {
    const int past = int(batch.rows[s].position);
    const auto k = random_values(size_t(past) * Hkv * d, 15 + s, 1.0), v = random_values(size_t(past) * Hkv * d, 17 + s, 1.0);
    batch.memories[s].kv(layer).append(k.data(), v.data(), Hkv * d, past);
    keys[s].assign(k.begin(), k.end());
    values[s].assign(v.begin(), v.end());
  }
  const auto a = random_values(size_t(batch.n_rows) * D, 19, 1.0);
  std::vector<float> out(size_t(batch.n_rows) * D);
  m1::kernels::cpu::ThreadPool pool(2);
  m1::SoftmaxWorkspace ws;
  m1::LayerContext ctx{c, layer, batch.rows, batch.n_rows, 4, pool};
  m1::softmax_attention_forward(ctx, w, a.data(), out.data(), ws);

  auto rope = [&](std::vector<double> & x, int heads, int64_t pos) {
    for (int h = 0; h < heads; ++h)
      for (int j = 0; j < r / 2; ++j) {
        const double t = double(pos) * std::pow(c.rope_theta, -2.0 * j / r);
        double & x1 = x[size_t(h) * d + j], & x2 = x[size_t(h) * d + j + r / 2];
        const double a1 = x1, a2 = x2;
        x1 = a1 * std::cos(t) - a2 * std::sin(t);
        x2 = a2 * std::cos(t) + a1 * std::sin(t);
      }
  };
  for (size_t s = 0; s < 2; ++s) {
    const m1::SequenceRows & seq = batch.rows[s];
    for (int i = 0; i < seq.n_rows; ++i) {  // append this token's K/V, then attend over all so far
      const double * x = nullptr;
      std::vector<double> at(a.begin() + size_t(seq.row_begin + i) * D, a.begin() + size_t(seq.row_begin + i + 1) * D);
      x = at.data();
      std::vector<double> q = linear(w.q_proj, x, H * d, D), k = linear(w.k_proj, x, Hkv * d, D);
      const std::vector<double> v = linear(w.v_proj, x, Hkv * d, D);
      rope(q, H, seq.position + i);
      rope(k, Hkv, seq.position + i);
      keys[s].insert(keys[s].end(), k.begin(), k.end());
      values[s].insert(values[s].end(), v.begin(), v.end());
      const int n_keys = int(keys[s].size() / (Hkv * d));
      std::vector<double> o(size_t(H) * d, 0.0);
      for (int h = 0; h < H; ++h) {
        const int g = h / (H / Hkv);
        std::vector<double> p(n_keys);
        double top = -1e300, sum = 0;
        for (int t = 0; t < n_keys; ++t) {
          double dot = 0;
          for (int j = 0; j < d; ++j) dot += q[size_t(h) * d + j] * keys[s][(size_t(t) * Hkv + g) * d + j];
          top = std::max(top, p[t] = dot / std::sqrt(double(d)));
        }
        for (double & e : p) sum += (e = std::exp(e - top));
        for (int t = 0; t < n_keys; ++t)
          for (int j = 0; j < d; ++j) o[size_t(h) * d + j] += p[t] / sum * values[s][(size_t(t) * Hkv + g) * d + j];
      }
      const std::vector<double> y = linear(w.o_proj, o.data(), D, H * d);
      EXPECT_LT(relative_error(out.data() + size_t(seq.row_begin + i) * D, y.data(), D), 1e-5) << "seq " << s << " row " << i;
    }
    EXPECT_EQ(batch.memories[s].kv(layer).n_tokens(), int(keys[s].size() / (Hkv * d)));
  }
}

TEST(LayerMoe, MatchesDirectTopKSwiglu) {
  const m1::ModelConfig c = small_config();
  const int D = c.hidden_size, E = c.n_experts, F = c.expert_ffn, T = 9;
  m1::MoeWeights w{random_values(size_t(E) * D, 21, 0.5), random_values(size_t(E) * 2 * F * D, 22, 0.3),
                   random_values(size_t(E) * D * F, 23, 0.3)};
  const auto b = random_values(size_t(T) * D, 24, 1.0);
  std::vector<float> out(size_t(T) * D);
  m1::kernels::cpu::ThreadPool pool(1);
  m1::MoeWorkspace ws;
  std::vector<m1::SequenceRows> rows;
  m1::LayerContext ctx{c, 0, rows, T, 4, pool};
  m1::moe_forward(ctx, w, b.data(), out.data(), ws);
  for (int t = 0; t < T; ++t) {
    const double * x = nullptr;
    std::vector<double> bt(b.begin() + size_t(t) * D, b.begin() + size_t(t + 1) * D);
    x = bt.data();
    std::vector<double> p = linear(w.router, x, E, D);
    const double top = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (double & e : p) sum += (e = std::exp(e - top));
    for (double & e : p) e /= sum;
    std::vector<int> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int i, int j) { return p[i] > p[j]; });
    const double norm = p[order[0]] + p[order[1]];
    std::vector<double> y(D, 0.0);
    for (int k = 0; k < 2; ++k) {
      const int e = order[k];
      std::vector<float> gate_up(w.gate_up.begin() + size_t(e) * 2 * F * D, w.gate_up.begin() + size_t(e + 1) * 2 * F * D);
      std::vector<float> down(w.down.begin() + size_t(e) * D * F, w.down.begin() + size_t(e + 1) * D * F);
      const std::vector<double> h = linear(gate_up, x, 2 * F, D);
      std::vector<double> act(F);
      for (int i = 0; i < F; ++i) act[i] = h[i] * sigmoid(h[i]) * h[F + i];  // silu(w1 b) * (w3 b)
      const std::vector<double> z = linear(down, act.data(), D, F);
      for (int i = 0; i < D; ++i) y[i] += p[e] / norm * z[i];
    }
    EXPECT_LT(relative_error(out.data() + size_t(t) * D, y.data(), D), 1e-5) << "token " << t;
  }
}

}  // namespace
