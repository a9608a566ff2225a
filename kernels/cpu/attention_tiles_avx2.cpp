// The attention tile loops built for AVX2 with fused multiply-add (8-wide vectors, contraction of
// a * b + c into one FMA allowed for this file only; see kernels/CMakeLists.txt). Reached only
// through avx2_attention_tile_kernels() (attention_tiles_portable.cpp, baseline ISA), which first
// asks the CPU for both features: nothing here runs on a CPU without them.
#include "kernels/cpu/attention_tiles.h"

namespace m1::kernels::cpu {

namespace {
constexpr int kWidth = 8;
#include "kernels/cpu/attention_tile_loops.inc"
}  // namespace

const AttentionTileKernels & avx2_fma_attention_tile_table() {
  static const AttentionTileKernels table{2 * kWidth, rows4_gemm, exp_shifted_sum, max_value, "avx2+fma"};
  return table;
}

}  // namespace m1::kernels::cpu
