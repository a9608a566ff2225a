// gemm_nt on cuBLAS: the row-major product C = A B^T is the column-major C^T = B A^T, so B goes
// first with op T and A second with op N. One cuBLAS handle per thread and device, made on first use.
#include <cublas_v2.h>

#include <map>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/cuda/gemv.h"
#include "kernels/gemm_gpu.h"

namespace m1::kernels::gpu {

namespace {

Expected<cublasHandle_t> handle_for_current_device() {
  thread_local std::map<int, cublasHandle_t> handles;  // lives for the thread, like the context
  int device = 0;
  M1_CUDA_STATUS(cudaGetDevice(&device));
  auto it = handles.find(device);
  if (it != handles.end()) return it->second;
  cublasHandle_t handle = nullptr;
  const cublasStatus_t rc = cublasCreate(&handle);
  if (rc != CUBLAS_STATUS_SUCCESS)
    return Status::error(std::string("gemm: cublasCreate failed on device ") + std::to_string(device) + ": " +
                         cublasGetStatusString(rc));
  // A workspace of our own, so that cuBLAS never allocates while a CUDA graph is being captured.
  constexpr size_t kWorkspaceBytes = size_t(32) << 20;
  void * workspace = nullptr;
  M1_CUDA_STATUS(cudaMalloc(&workspace, kWorkspaceBytes));
  const cublasStatus_t set = cublasSetWorkspace(handle, workspace, kWorkspaceBytes);
  if (set != CUBLAS_STATUS_SUCCESS)
    return Status::error(std::string("gemm: cublasSetWorkspace failed: ") + cublasGetStatusString(set));
  handles[device] = handle;  // handle and workspace live as long as the thread
  return handle;
}

cudaDataType_t cuda_type(ElementType t) { return t == ElementType::bf16 ? CUDA_R_16BF : CUDA_R_32F; }

}  // namespace

Status gemm_nt(const GemmArgs & a, Stream stream) {
  if (a.m == 0 || a.n == 0 || a.k == 0) return {};
  if (a.m < 0 || a.n < 0 || a.k < 0 || !a.a || !a.b || !a.c || a.lda < a.k || a.ldb < a.k || a.ldc < a.n)
    return Status::error("gemm: bad shape m=" + std::to_string(a.m) + " n=" + std::to_string(a.n) + " k=" +
                         std::to_string(a.k) + " lda=" + std::to_string(a.lda) + " ldb=" + std::to_string(a.ldb) +
                         " ldc=" + std::to_string(a.ldc) + " (or a null pointer)");
  const bool streaming = a.kernel == GemmKernel::streaming || (a.kernel == GemmKernel::automatic && gemv_streaming_fits(a, kGemvAutoMaxRows));
  if (streaming) return gemv_streaming(a, stream);
  auto handle = handle_for_current_device();
  if (!handle) return handle.status();
  // A null stream is this thread's default stream (capturable), as for the kernels of this library.
  cublasSetStream(*handle, stream ? static_cast<cudaStream_t>(stream) : cudaStreamPerThread);
  const cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  const cublasStatus_t rc =
      cublasGemmEx(*handle, CUBLAS_OP_T, CUBLAS_OP_N, a.n, a.m, a.k, &a.alpha, a.b, cuda_type(a.ab_type), int(a.ldb),
                   a.a, cuda_type(a.ab_type), int(a.lda), &a.beta, a.c, cuda_type(a.c_type), int(a.ldc), compute,
                   CUBLAS_GEMM_DEFAULT);
  if (rc != CUBLAS_STATUS_SUCCESS)
    return Status::error("gemm: cublasGemmEx m=" + std::to_string(a.m) + " n=" + std::to_string(a.n) + " k=" +
                         std::to_string(a.k) + " failed: " + cublasGetStatusString(rc));
  return {};
}

}  // namespace m1::kernels::gpu
