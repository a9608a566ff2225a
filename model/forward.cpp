// Model::forward: the decoder stack of M1_SPEC.md section 4, over all rows of the batch at once.
//   a = N_in(x);  x1 = alpha_attn * a + beta_attn * Attn(a)
//   b = N_post(x1);  x = alpha_mlp * b + beta_mlp * MoE(b)
// then the final norm and the fp32 LM head on the rows whose logits were asked for.
#include <cstring>
#include <set>
#include <string>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "model/model.h"

namespace m1 {

namespace cpu = kernels::cpu;

Status Model::validate(std::span<const SequenceInput> batch) const {
  std::set<const SequenceMemory *> seen;
  const MemoryShape shape = memory_shape();
  for (size_t s = 0; s < batch.size(); ++s) {
    const std::string where = "forward: sequence " + std::to_string(s) + ": ";
    const SequenceInput & in = batch[s];
    if (!in.memory) return Status::error(where + "no memory");
    if (!seen.insert(in.memory).second) return Status::error(where + "its memory appears twice in the batch");
    if (!(in.memory->shape() == shape)) return Status::error(where + "memory was made for a different model shape");
    if (in.tokens.empty() && in.logits != LogitRows::none)
      return Status::error(where + "logits asked for but no tokens given");
    for (size_t i = 0; i < in.tokens.size(); ++i)
      if (in.tokens[i] < 0 || in.tokens[i] >= config_.vocab_size)
        return Status::error(where + "token id " + std::to_string(in.tokens[i]) + " at position " +
                             std::to_string(i) + " is out of range [0, " + std::to_string(config_.vocab_size) + ")");
  }
  return Status();
}

void Model::run_layer(int l, std::span<const SequenceRows> rows, int T) {
  const LayerWeights & w = weights_.layers[l];
  const int D = config_.hidden_size;
  const size_t n = size_t(T) * D;
  LayerContext ctx{config_, l, rows, T, lightning_block_, *pool_};
  cpu::rmsnorm(x_.data(), D, w.input_norm.data(), normed_.data(), D, T, D, config_.rms_norm_eps);
  const ResidualScale & attn = w.kind == LayerKind::lightning ? config_.lightning_residual : config_.softmax_residual;
  if (w.kind == LayerKind::lightning)
    lightning_attention_forward(ctx, w.lightning, normed_.data(), sublayer_.data(), lightning_ws_);
  else
    softmax_attention_forward(ctx, w.softmax, normed_.data(), sublayer_.data(), softmax_ws_);
  cpu::scaled_sum(float(attn.alpha), normed_.data(), float(attn.beta), sublayer_.data(), x_.data(), n);
  cpu::rmsnorm(x_.data(), D, w.post_attention_norm.data(), normed_.data(), D, T, D, config_.rms_norm_eps);
  moe_forward(ctx, w.moe, normed_.data(), sublayer_.data(), moe_ws_);
  cpu::scaled_sum(float(config_.mlp_residual.alpha), normed_.data(), float(config_.mlp_residual.beta),
                  sublayer_.data(), x_.data(), n);
}

std::vector<SequenceLogits> Model::lm_head(std::span<const SequenceInput> batch, std::span<const SequenceRows> rows) {
  const int D = config_.hidden_size, V = config_.vocab_size;
  std::vector<SequenceLogits> logits(batch.size());
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceRows & seq = rows[s];
    const int n = batch[s].logits == LogitRows::all ? seq.n_rows : batch[s].logits == LogitRows::last ? 1 : 0;
    const int first = seq.row_begin + seq.n_rows - n;
    logits[s].n_rows = n;
    logits[s].vocab = V;
    logits[s].values.resize(size_t(n) * V);
    if (n == 0) continue;
    cpu::rmsnorm(x_.data() + size_t(first) * D, D, weights_.final_norm.data(), normed_.data(), D, n, D,
                 config_.rms_norm_eps);
    cpu::matmul_nt(normed_.data(), weights_.lm_head.data(), logits[s].values.data(), n, V, D);
  }
  return logits;
}

Expected<std::vector<SequenceLogits>> Model::forward(std::span<const SequenceInput> batch) {
  M1_RETURN_IF_ERROR(validate(batch));
  const int D = config_.hidden_size;
  std::vector<SequenceRows> rows(batch.size());
  int T = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    rows[s] = {T, int(batch[s].tokens.size()), batch[s].memory->n_tokens(), batch[s].memory};
    T += rows[s].n_rows;
  }
  x_.resize(size_t(T) * D);
  normed_.resize(size_t(T) * D);
  sublayer_.resize(size_t(T) * D);
  for (size_t s = 0; s < batch.size(); ++s)
    for (int i = 0; i < rows[s].n_rows; ++i)
      std::memcpy(x_.data() + size_t(rows[s].row_begin + i) * D,
                  weights_.embed.data() + size_t(batch[s].tokens[i]) * D, sizeof(float) * D);
  if (T > 0)
    for (int l = 0; l < config_.n_layers; ++l) run_layer(l, rows, T);
  for (size_t s = 0; s < batch.size(); ++s) batch[s].memory->advance(rows[s].n_rows);
  return lm_head(batch, rows);
}

}  // namespace m1
