#include "model/softmax_attention.h"

#include <algorithm>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/rope.h"

namespace m1 {

namespace cpu = kernels::cpu;

static_assert(KvPages::kPageTokens % 16 == 0, "the CPU attention reads key pages in steps of 16 tokens");

void softmax_attention_forward(const LayerContext & ctx, const SoftmaxWeights & w, const float * a,
                               float * out, SoftmaxWorkspace & ws) {
  const ModelConfig & c = ctx.config;
  const int D = c.hidden_size, H = c.n_heads, d = c.head_dim, T = ctx.n_rows;
  const int Hd = H * d, KVd = c.n_kv_heads * d;
  ws.q.resize(size_t(T) * Hd);
  ws.k.resize(size_t(T) * KVd);
  ws.v.resize(size_t(T) * KVd);
  ws.o.resize(size_t(T) * Hd);
  cpu::matmul_nt(a, w.q_proj.data(), ws.q.data(), T, Hd, D);
  cpu::matmul_nt(a, w.k_proj.data(), ws.k.data(), T, KVd, D);
  cpu::matmul_nt(a, w.v_proj.data(), ws.v.data(), T, KVd, D);

  for (const SequenceRows & seq : ctx.sequences) {
    float * q = ws.q.data() + size_t(seq.row_begin) * Hd;
    float * k = ws.k.data() + size_t(seq.row_begin) * KVd;
    cpu::rope_neox(q, Hd, seq.n_rows, H, d, c.rotary_dim, seq.position, c.rope_theta);
    cpu::rope_neox(k, KVd, seq.n_rows, c.n_kv_heads, d, c.rotary_dim, seq.position, c.rope_theta);
    seq.memory->kv(ctx.layer).append(k, ws.v.data() + size_t(seq.row_begin) * KVd, KVd, seq.n_rows);
  }

  struct SequenceKv {
    std::vector<const float *> k_pages, v_pages;
    cpu::KvPagesView view;
  };
  std::vector<SequenceKv> kv(ctx.sequences.size());
  for (size_t s = 0; s < kv.size(); ++s) {
    const KvPages & pages = ctx.sequences[s].memory->kv(ctx.layer);
    kv[s].k_pages = pages.k_pages();
    kv[s].v_pages = pages.v_pages();
    kv[s].view = {kv[s].k_pages, kv[s].v_pages, KvPages::kPageTokens, pages.n_tokens(), c.n_kv_heads, d};
  }
  // One task per (sequence, KV head, range of queries): the query heads of a group share each
  // tile of their KV head, and a long prefill splits into ranges so every thread gets work. About
  // 128 query rows per task keeps the tile loops efficient (attention.cpp).
  struct Task {
    int sequence, kv_head, query_begin, query_end;
  };
  const int group = H / c.n_kv_heads, queries_per_task = std::max(1, 128 / group);
  std::vector<Task> tasks;
  for (size_t s = 0; s < kv.size(); ++s)
    for (int g = 0; g < c.n_kv_heads; ++g)
      for (int i = 0; i < ctx.sequences[s].n_rows; i += queries_per_task)
        tasks.push_back({int(s), g, i, std::min(ctx.sequences[s].n_rows, i + queries_per_task)});
  ctx.pool.parallel_for(int(tasks.size()), [&](int i) {
    const Task & task = tasks[size_t(i)];
    const SequenceRows & seq = ctx.sequences[size_t(task.sequence)];
    thread_local cpu::AttentionScratch scratch;
    cpu::causal_attention(ws.q.data() + size_t(seq.row_begin) * Hd, Hd, H, seq.position, kv[size_t(task.sequence)].view,
                          ws.o.data() + size_t(seq.row_begin) * Hd, Hd, task.kv_head, task.query_begin,
                          task.query_end, scratch);
  });
  cpu::matmul_nt(ws.o.data(), w.o_proj.data(), out, T, D, Hd);
}

}  // namespace m1
