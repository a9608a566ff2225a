// Rotary position embedding with the NeoX pairing on the first rotary_dim dims of each head
// (M1_SPEC.md section 4, softmax layers): for j < r/2, (x_j, x_{j+r/2}) is rotated by
// t = pos * theta^(-2j/r); dims >= r are untouched. Angles are computed in double: in fp32,
// pos * freq loses digits at the million-token positions M1 is trained for.
#pragma once

#include <cstdint>

namespace m1::kernels::cpu {

// x: fp32 [n_tokens, n_heads, head_dim] with row stride ld (elements between tokens); token i is
// at absolute position first_position + i.
void rope_neox(float * x, int ld, int n_tokens, int n_heads, int head_dim, int rotary_dim,
               int64_t first_position, double theta);

}  // namespace m1::kernels::cpu
