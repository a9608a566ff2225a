// Dense matrix products on the GPU through cuBLAS, in a form that compiles without CUDA:
// C[m, n] = alpha * A[m, k] @ B[n, k]^T (+ beta * C), row-major, the layout of a checkpoint's
// [out, in] weight matrices. bf16 or fp32 inputs, fp32 accumulation, bf16 or fp32 output. A few
// rows of bf16 A (decode steps) go to a weight-streaming kernel of our own (kernels/cuda/gemv.cu).
#pragma once

#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

enum class ElementType { bf16, f32 };

// Which kernel computes the product.
enum class GemmKernel {
  automatic,  // streaming when it fits (bf16, m <= kGemvAutoMaxRows, beta 0), else cuBLAS
  cublas,
  streaming,  // one warp per row of B, for decode steps; an error where it does not fit
};

inline constexpr int kGemvMaxRows = 8;
// Measured on the H100 (2026-11-27, m1_gpu_kernels_bench --gemv): at one row the streaming kernel
// reads at 26-58% of copy on the 1B model's 8-34 MB matrices against cuBLAS's 17-45%, and at 81-96%
// against 67-87% on M1's 100-400 MB ones; at 8 rows cuBLAS wins (13-62% vs 17-87%).
inline constexpr int kGemvAutoMaxRows = 1;

struct GemmArgs {
  int m = 0, n = 0, k = 0;
  const void * a = nullptr;        // [m, lda], the first k columns used
  std::int64_t lda = 0;
  const void * b = nullptr;        // [n, ldb], the first k columns used
  std::int64_t ldb = 0;
  ElementType ab_type = ElementType::bf16;  // A and B share a type (cuBLAS has no mixed inputs)
  void * c = nullptr;              // [m, ldc]
  std::int64_t ldc = 0;
  ElementType c_type = ElementType::bf16;
  float alpha = 1.0f;
  float beta = 0.0f;
  GemmKernel kernel = GemmKernel::automatic;
};

// Runs nothing (and succeeds) when m, n or k is 0. fp32 inputs compute in full fp32 (no TF32).
Status gemm_nt(const GemmArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
