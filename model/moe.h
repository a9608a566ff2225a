// The MoE block on the CPU (M1_SPEC.md section 4, "MoE"): an fp32 softmax router over all
// experts, top-k, the k weights renormalized to sum to 1, SwiGLU experts
// w2(silu(w1 b) * w3 b), summed with their weights. Tokens are grouped per expert so each expert
// runs as two GEMMs over the rows routed to it.
#pragma once

#include <vector>

#include "model/layer_context.h"
#include "model/weights.h"

namespace m1 {

struct MoeWorkspace {
  std::vector<float> probs;           // [rows, E]
  std::vector<std::vector<int>> rows; // per expert: rows routed to it
  std::vector<std::vector<float>> weights;  // per expert: their renormalized weights
  std::vector<float> x, hidden, y;    // gathered rows, [n, 2F], [n, D]
};

// b: fp32 [rows, D]; out: fp32 [rows, D].
void moe_forward(const LayerContext & ctx, const MoeWeights & w, const float * b, float * out, MoeWorkspace & ws);

}  // namespace m1
