// The expert FFN per expert on cuBLAS (kernels/moe_gemm_gpu.h, moe_expert_gemms_per_expert): with
// the row ranges on the host, each expert's rows are one dense GEMM, which cuBLAS tiles better
// than the grouped kernel at prefill sizes. The price is the caller's host sync, hence no graphs.
#include <string>

#include "kernels/activation_gpu.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/gemm_gpu.h"
#include "kernels/moe_gemm_gpu.h"

namespace m1::kernels::gpu {
namespace {

constexpr const char * kName = "moe_expert_gemms_per_expert";

Status check_args(const MoePerExpertArgs & a) {
  M1_RETURN_IF_ERROR(cuda::require(a.n_rows >= 0, kName, "n_rows must not be negative"));
  M1_RETURN_IF_ERROR(cuda::require(a.n_experts > 0, kName, "n_experts " + std::to_string(a.n_experts) + " must be positive"));
  M1_RETURN_IF_ERROR(cuda::require(a.width > 0 && a.width % 8 == 0 && a.ffn > 0 && a.ffn % 8 == 0, kName,
                                   "width " + std::to_string(a.width) + " and ffn " + std::to_string(a.ffn) +
                                       " must be positive multiples of 8"));
  M1_RETURN_IF_ERROR(cuda::require(a.host_offsets != nullptr, kName, "host_offsets must be set"));
  // The offsets come from the device; a bad copy would make cuBLAS read outside the buffers.
  M1_RETURN_IF_ERROR(cuda::require(a.host_offsets[0] == 0 && a.host_offsets[a.n_experts] == a.n_rows, kName,
                                   "host_offsets must run from 0 to n_rows " + std::to_string(a.n_rows) + ", found " +
                                       std::to_string(a.host_offsets[0]) + " to " +
                                       std::to_string(a.host_offsets[a.n_experts])));
  for (int e = 0; e < a.n_experts; ++e)
    M1_RETURN_IF_ERROR(cuda::require(a.host_offsets[e] <= a.host_offsets[e + 1], kName,
                                     "host_offsets decrease at expert " + std::to_string(e)));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "in", a.in, a.in_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "hidden", a.hidden, 2 * int64_t(a.ffn), 2 * int64_t(a.ffn)));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out", a.out, a.out_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require(a.gate_up && cuda::aligned16(a.gate_up), kName, "gate_up must be set and 16-byte aligned"));
  return cuda::require(a.down && cuda::aligned16(a.down), kName, "down must be set and 16-byte aligned");
}

// One bf16 GEMM, C[m, n] = A[m, k] B[n, k]^T, naming the expert if cuBLAS refuses it.
Status expert_gemm(int expert, int m, int n, int k, const Bf16 * a, int64_t lda, const Bf16 * b, Bf16 * c, int64_t ldc,
                   Stream stream) {
  GemmArgs g;
  g.m = m, g.n = n, g.k = k, g.a = a, g.lda = lda, g.b = b, g.ldb = k, g.c = c, g.ldc = ldc;
  const Status status = gemm_nt(g, stream);
  if (!status.ok()) return Status::error(std::string(kName) + ": expert " + std::to_string(expert) + ": " + status.message());
  return {};
}

}  // namespace

Status moe_expert_gemms_per_expert(const MoePerExpertArgs & a, Stream stream) {
  M1_RETURN_IF_ERROR(check_args(a));
  if (a.n_rows == 0) return {};
  const int D = a.width, F = a.ffn;
  const int64_t H = 2 * int64_t(F);  // hidden row: gate half, then up half
  for (int e = 0; e < a.n_experts; ++e) {
    const int b = a.host_offsets[e], m = a.host_offsets[e + 1] - b;
    if (m == 0) continue;
    M1_RETURN_IF_ERROR(expert_gemm(e, m, 2 * F, D, a.in + b * a.in_stride, a.in_stride, a.gate_up + e * H * D,
                                   a.hidden + b * H, H, stream));
  }
  // One launch for every row: silu(gate) * up into the gate half, which the down GEMMs read.
  M1_RETURN_IF_ERROR(swiglu({a.n_rows, F, a.hidden, H, a.hidden + F, H, a.hidden, H}, stream));
  for (int e = 0; e < a.n_experts; ++e) {
    const int b = a.host_offsets[e], m = a.host_offsets[e + 1] - b;
    if (m == 0) continue;
    M1_RETURN_IF_ERROR(expert_gemm(e, m, D, F, a.hidden + b * H, H, a.down + int64_t(e) * D * F,
                                   a.out + b * a.out_stride, a.out_stride, stream));
  }
  return {};
}

}  // namespace m1::kernels::gpu
