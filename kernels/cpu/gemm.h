// Single-precision GEMMs on the CPU through OpenBLAS (row-major everywhere), and the thread count
// OpenBLAS uses. Every matrix multiply of the CPU forward goes through here.
#pragma once

namespace m1::kernels::cpu {

// C [m, n] = A [m, k] * W [n, k]^T (+ C when accumulate): a linear layer with torch's [out, in]
// weight layout. lda/ldw/ldc are row strides in elements.
void matmul_nt(const float * a, int lda, const float * w, int ldw, float * c, int ldc, int m, int n,
               int k, bool accumulate = false);
inline void matmul_nt(const float * a, const float * w, float * c, int m, int n, int k,
                      bool accumulate = false) {
  matmul_nt(a, k, w, k, c, n, m, n, k, accumulate);
}

// C [m, n] = A [m, k] * B [k, n] + beta * C.
void matmul_nn(const float * a, int lda, const float * b, int ldb, float * c, int ldc, int m, int n,
               int k, float beta = 0.0f);

// C [m, n] = A [k, m]^T * B [k, n] + beta * C.
void matmul_tn(const float * a, int lda, const float * b, int ldb, float * c, int ldc, int m, int n,
               int k, float beta = 0.0f);

// OpenBLAS's thread count is process-wide.
void set_blas_threads(int n_threads);
int blas_threads();

}  // namespace m1::kernels::cpu
