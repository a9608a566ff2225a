// The portable attention tile loops: 4-wide vectors (SSE2 on baseline x86-64, NEON on arm64),
// for any CPU, and the choice of the fastest table for the running one.
#include "kernels/cpu/attention_tiles.h"

namespace m1::kernels::cpu {

namespace {
constexpr int kWidth = 4;
#include "kernels/cpu/attention_tile_loops.inc"
}  // namespace

const AttentionTileKernels & portable_attention_tile_kernels() {
  static const AttentionTileKernels table{2 * kWidth, rows4_gemm, exp_shifted_sum, max_value, "portable"};
  return table;
}

#if M1_HAVE_AVX2_ATTENTION_TILES
const AttentionTileKernels & avx2_fma_attention_tile_table();  // attention_tiles_avx2.cpp

const AttentionTileKernels * avx2_attention_tile_kernels() {
  static const bool usable = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return usable ? &avx2_fma_attention_tile_table() : nullptr;
}
#else
const AttentionTileKernels * avx2_attention_tile_kernels() { return nullptr; }
#endif

const AttentionTileKernels & attention_tile_kernels() {
  static const AttentionTileKernels & best = [] () -> const AttentionTileKernels & {
    const AttentionTileKernels * avx2 = avx2_attention_tile_kernels();
    return avx2 ? *avx2 : portable_attention_tile_kernels();
  }();
  return best;
}

}  // namespace m1::kernels::cpu
