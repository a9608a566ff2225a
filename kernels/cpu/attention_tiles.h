// The inner loops of the CPU causal attention (attention.cpp), in one table chosen once for the
// running CPU: an x86 build carries an AVX2+FMA copy next to a portable one, and the portable one
// (GCC/Clang vector extensions, 4-wide) serves every other CPU. Both compute every output element
// with one accumulator summed in index order, so a row's result never depends on which other rows
// share its block: the engine relies on that to make batched and solo runs bit-identical.
#pragma once

namespace m1::kernels::cpu {

struct AttentionTileKernels {
  // Columns per step of rows4_gemm: n and ldb must be multiples of this.
  int column_multiple = 0;
  // C [4, n] = scale * (A [4, k] * B [k, n]) (+ C when accumulate): four rows of A (row stride
  // lda) against a row-major B (row stride ldb).
  void (*rows4_gemm)(const float * a, int lda, const float * b, int ldb, float * c, int ldc, int k, int n,
                     float scale, bool accumulate) = nullptr;
  // x[i] = exp(x[i] - shift) for i < n, in place; returns the sum of the results. Relative error of
  // each value within a few fp32 ulps.
  float (*exp_shifted_sum)(float * x, int n, float shift) = nullptr;
  // The largest of x[0..n), n >= 1.
  float (*max_value)(const float * x, int n) = nullptr;
  const char * name = "";
};

// The fastest table this CPU can run.
const AttentionTileKernels & attention_tile_kernels();

// Each table by name, for tests that compare them: the portable one always, the AVX2 one only
// on an x86 build running on a CPU with AVX2 and FMA (else nullptr).
const AttentionTileKernels & portable_attention_tile_kernels();
const AttentionTileKernels * avx2_attention_tile_kernels();

}  // namespace m1::kernels::cpu
