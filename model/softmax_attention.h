// The softmax attention layer on the CPU (M1_SPEC.md section 4, "Softmax attention layer"):
// q/k/v projections, partial NeoX RoPE on the first rotary_dim dims at absolute positions, the new
// K/V appended to the sequence's KV pages, causal GQA attention over all of them, o_proj.
#pragma once

#include <vector>

#include "model/layer_context.h"
#include "model/weights.h"

namespace m1 {

struct SoftmaxWorkspace {
  std::vector<float> q, k, v;  // [rows, H*d], [rows, Hkv*d], [rows, Hkv*d]
  std::vector<float> o;        // [rows, H*d]
};

// a: fp32 [rows, D]; out: fp32 [rows, D]. Appends this layer's K/V to each sequence's memory.
void softmax_attention_forward(const LayerContext & ctx, const SoftmaxWeights & w, const float * a,
                               float * out, SoftmaxWorkspace & ws);

}  // namespace m1
