// Elementwise activations on the GPU: SwiGLU (silu(gate) * up, the expert FFN, M1_SPEC.md
// section 4 "MoE") and in-place SiLU (the lightning qkv projection, step 1).
#pragma once

#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

struct SwigluArgs {
  int n_rows = 0;
  int width = 0;                   // multiple of 8
  const Bf16 * gate = nullptr;     // bf16 [n_rows, gate_stride]
  std::int64_t gate_stride = 0;
  const Bf16 * up = nullptr;       // bf16 [n_rows, up_stride]
  std::int64_t up_stride = 0;
  Bf16 * out = nullptr;            // bf16 [n_rows, out_stride]; may alias gate or up
  std::int64_t out_stride = 0;
};

Status swiglu(const SwigluArgs & args, Stream stream);

// data = bf16(silu(data)) on the first `width` columns (a multiple of 8) of each of n_rows rows of
// `stride` elements (the q/k/v columns of the lightning projection's rows).
Status silu_rows_inplace(Bf16 * data, int n_rows, int width, std::int64_t stride, Stream stream);

}  // namespace m1::kernels::gpu
