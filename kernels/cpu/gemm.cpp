#include "kernels/cpu/gemm.h"

#include <cblas.h>

namespace m1::kernels::cpu {

void matmul_nt(const float * a, int lda, const float * w, int ldw, float * c, int ldc, int m, int n,
               int k, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (m == 1) {  // one token (decode): a matrix-vector product, W [n, k] * a
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, ldw, a, 1, accumulate ? 1.0f : 0.0f, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, w, ldw,
              accumulate ? 1.0f : 0.0f, c, ldc);
}

void matmul_nn(const float * a, int lda, const float * b, int ldb, float * c, int ldc, int m, int n,
               int k, float beta) {
  if (m <= 0 || n <= 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

void matmul_tn(const float * a, int lda, const float * b, int ldb, float * c, int ldc, int m, int n,
               int k, float beta) {
  if (m <= 0 || n <= 0) return;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

void set_blas_threads(int n_threads) { openblas_set_num_threads(n_threads < 1 ? 1 : n_threads); }
int blas_threads() { return openblas_get_num_threads(); }

}  // namespace m1::kernels::cpu
