// The lightning attention layer on the CPU (M1_SPEC.md section 4, "Lightning attention layer"):
// qkv = silu(a W_qkv^T) laid out per head, the decayed linear attention against each sequence's
// fp32 state (block-wise for several new tokens, the recurrence for one), the joint RMSNorm over
// all H*d channels (eps 1e-6), the sigmoid output gate and out_proj.
#pragma once

#include <vector>

#include "model/layer_context.h"
#include "model/weights.h"

namespace m1 {

struct LightningWorkspace {
  std::vector<float> qkv;   // [rows, 3*H*d]
  std::vector<float> o;     // [rows, H*d]
  std::vector<float> gate;  // [rows, H*d]
};

// a: fp32 [rows, D] (the input-normed activations); out: fp32 [rows, D]. Updates the lightning
// state of this layer in each sequence's memory.
void lightning_attention_forward(const LayerContext & ctx, const LightningWeights & w, const float * a,
                                 float * out, LightningWorkspace & ws);

}  // namespace m1
