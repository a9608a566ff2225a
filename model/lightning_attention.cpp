#include "model/lightning_attention.h"

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/lightning.h"

namespace m1 {

namespace cpu = kernels::cpu;

void lightning_attention_forward(const LayerContext & ctx, const LightningWeights & w, const float * a,
                                 float * out, LightningWorkspace & ws) {
  const ModelConfig & c = ctx.config;
  const int D = c.hidden_size, H = c.n_heads, d = c.head_dim, Hd = H * d, T = ctx.n_rows;
  ws.qkv.resize(size_t(T) * 3 * Hd);
  ws.o.resize(size_t(T) * Hd);
  ws.gate.resize(size_t(T) * Hd);
  cpu::matmul_nt(a, w.qkv.data(), ws.qkv.data(), T, 3 * Hd, D);
  cpu::silu(ws.qkv.data(), ws.qkv.size());

  // Head h of a token owns columns [3dh, 3dh+d) = q, then k, then v.
  auto run_head = [&](const SequenceRows & seq, int h) {
    const float * q = ws.qkv.data() + size_t(seq.row_begin) * 3 * Hd + size_t(3 * d) * h;
    float * o = ws.o.data() + size_t(seq.row_begin) * Hd + size_t(d) * h;
    float * state = seq.memory->lightning_state(ctx.layer) + size_t(d) * d * h;
    const double slope = c.lightning_slope(ctx.layer, h);
    if (seq.n_rows == 1) {
      cpu::lightning_recurrence(q, q + d, q + 2 * d, 3 * Hd, o, Hd, 1, d, state, slope);
    } else {
      thread_local cpu::LightningScratch scratch;
      cpu::lightning_blockwise(q, q + d, q + 2 * d, 3 * Hd, o, Hd, seq.n_rows, d, state, slope,
                               ctx.lightning_block, scratch);
    }
  };
  // Decode steps (one token) are memory-bound on the state: spread (sequence, head) pairs over the
  // pool. Prefill runs GEMMs, threaded inside OpenBLAS, so heads go one after another.
  std::vector<const SequenceRows *> decode;
  for (const SequenceRows & seq : ctx.sequences) {
    if (seq.n_rows == 1) decode.push_back(&seq);
    else if (seq.n_rows > 1)
      for (int h = 0; h < H; ++h) run_head(seq, h);
  }
  ctx.pool.parallel_for(int(decode.size()) * H, [&](int i) { run_head(*decode[i / H], i % H); });

  cpu::rmsnorm(ws.o.data(), Hd, w.norm.data(), ws.o.data(), Hd, T, Hd, c.lightning_norm_eps);
  cpu::matmul_nt(a, w.output_gate.data(), ws.gate.data(), T, Hd, D);
  cpu::sigmoid_gate(ws.gate.data(), ws.o.data(), ws.o.size());
  cpu::matmul_nt(ws.o.data(), w.out_proj.data(), out, T, D, Hd);
}

}  // namespace m1
