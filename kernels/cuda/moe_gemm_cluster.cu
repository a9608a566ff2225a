// Grouped expert GEMMs on the tensor cores with bulk tensor copies (kernels/moe_gemm_gpu.h), the
// prefill path of moe_expert_gemm. Why: at 4K tokens an expert has ~256 rows, and the cp.async
// kernel's 128 x 256 tiles pull 48 KB from L2 per 64-wide K step for 4.2 MFLOP, which on the H100
// caps the tensor cores near 575 TFLOP/s. Here two CTAs of a cluster take two 128-row tiles of the
// same expert and the same 256 weight rows: each loads its own rows and half of the weight tile,
// multicast into both CTAs' shared memory, so the weight tile leaves L2 once for 256 rows (32 KB per
// CTA per K step instead of 48).
//   Block roles: warpgroup 0 has one thread issuing the copies (4 stages of 48 KB, full/empty
//   mbarriers; a stage is refilled once both CTAs' multiplying warpgroups released it); warpgroups
//   1 and 2 each multiply 64 rows by the 256 weight rows (wgmma m64n256k16, 128-byte swizzle, as in
//   moe_gemm.cu) and store their part, with SwiGLU formed in registers for the fused w1|w3 product.
//   Tiles: cluster c covers experts in order, ceil(m_tiles / 2) clusters per weight-row tile, the
//   pair fastest; an expert with an odd tile count leaves the last tile to rank 0 alone (rank 1
//   exits, rank 0 loads the whole weight tile itself). A warpgroup whose 64 rows all lie past the
//   expert's end issues no wgmma. Rows past the expert's end that the copies bring in (the next
//   expert's, or zeros past the tensor) only reach accumulators that are never stored.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/cuda/moe_gemm_internal.h"
#include "kernels/cuda/scalar_math.cuh"
#include "kernels/cuda/tma.cuh"
#include "kernels/cuda/wgmma.cuh"

namespace m1::kernels::gpu {
namespace {

constexpr int kBM = 128, kBN = 256, kBK = 64, kStages = 4, kThreads = 384;
constexpr int kHalfRows = kBN / 2;  // weight rows per copy (the tensor-map box)
constexpr uint32_t kATileBytes = kBM * kBK * 2, kBHalfBytes = kHalfRows * kBK * 2;
constexpr uint32_t kStageBytes = kATileBytes + 2 * kBHalfBytes;
constexpr int kSmemBytes = kStages * kStageBytes + 1024;  // + alignment slack
// Registers per thread after the hand-over: 128 x 40 + 256 x 232 <= 65536.
constexpr int kLoaderRegisters = 40, kMultiplierRegisters = 232;

struct ClusterParams {
  CUtensorMap in_map;      // [n_rows, k] of `in`, boxes of 128 rows x 64
  CUtensorMap weight_map;  // [n_experts * rows_per_expert, k], boxes of 128 rows x 64
  MoeGemmArgs a;
  int n_tiles;          // weight-row tiles per expert
  int rows_per_expert;  // 2n with swiglu, else n
  int prefetch;         // experiment: weight boxes prefetched into L2 this many K steps ahead
};

struct PairTile {
  int expert;  // < 0: no work for this cluster
  int row_begin, row_end, n_tile;
  int has_rows;  // this CTA's 128-row tile exists
  int paired;    // both CTAs of the cluster have a tile (and share the weight tile)
};

using cuda::round_bf16;
using cuda::silu;
__device__ __forceinline__ float swiglu_value(float g, float u) {
  return round_bf16(silu(round_bf16(g))) * round_bf16(u);
}

// Warp 0: the tile of rank `rank` in cluster `cluster`, published in shared memory.
__device__ void find_pair_tile(const ClusterParams & p, int cluster, int rank, PairTile & out) {
  const int lane = threadIdx.x;
  int base = 0;
  bool found = false;
  for (int e0 = 0; e0 < p.a.n_experts && !found; e0 += 32) {
    const int e = e0 + lane;
    int begin = 0, end = 0;
    if (e < p.a.n_experts) begin = p.a.expert_offsets[e], end = p.a.expert_offsets[e + 1];
    const int m_tiles = (end - begin + kBM - 1) / kBM, pairs = (m_tiles + 1) / 2, clusters = pairs * p.n_tiles;
    int incl = clusters;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int v = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += v;
    }
    const int before = base + incl - clusters;
    const bool mine = clusters > 0 && cluster >= before && cluster < before + clusters;
    if (mine) {
      const int local = cluster - before, pair = local % pairs, m_tile = 2 * pair + rank;
      out = {e, begin + m_tile * kBM, end, local / pairs, m_tile < m_tiles, 2 * pair + 1 < m_tiles};
    }
    found = __ballot_sync(0xffffffffu, mine) != 0;
    base += __shfl_sync(0xffffffffu, incl, 31);
  }
  if (!found && lane == 0) out.expert = -1;
}

__device__ __forceinline__ void wgmma_wait_one() { asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory"); }

// Thread 0: fills the stages in order, each once both CTAs released it.
template <bool kSwiglu>
__device__ __forceinline__ void load_tiles(const ClusterParams & p, const PairTile & tile, unsigned char * smem, uint64_t * full,
                           uint64_t * empty, int n_k, uint32_t rank) {
  const int expert_row = tile.expert * p.rows_per_expert;
  const int b_row0 = expert_row + tile.n_tile * (kSwiglu ? kHalfRows : kBN);
  const int b_row1 = kSwiglu ? b_row0 + p.a.n : b_row0 + kHalfRows;  // up rows, or the second half
  for (int kt = 0; kt < n_k; ++kt) {
    const int s = kt % kStages;
    if (kt >= kStages) cuda::mbarrier_wait(&empty[s], ((kt / kStages) - 1) & 1);
    unsigned char * sa = smem + s * kStageBytes, * sb = sa + kATileBytes;
    const int pk = kt + p.prefetch;
    if (p.prefetch > 0 && pk < n_k) {
      if (!tile.paired || rank == 0) cuda::tma_prefetch_2d(&p.weight_map, pk * kBK, b_row0);
      if (!tile.paired || rank == 1) cuda::tma_prefetch_2d(&p.weight_map, pk * kBK, b_row1);
    }
    cuda::mbarrier_arrive_expect_tx(&full[s], kStageBytes);
    cuda::tma_load_2d(sa, &p.in_map, &full[s], kt * kBK, tile.row_begin);
    if (tile.paired) {
      cuda::tma_load_2d_multicast(sb + rank * kBHalfBytes, &p.weight_map, &full[s], kt * kBK, rank ? b_row1 : b_row0,
                                  uint16_t(0x3));
    } else {
      cuda::tma_load_2d(sb, &p.weight_map, &full[s], kt * kBK, b_row0);
      cuda::tma_load_2d(sb + kBHalfBytes, &p.weight_map, &full[s], kt * kBK, b_row1);
    }
  }
}

// Multiplying warpgroup mw (0 or 1): rows 64 mw .. 64 mw + 63 of the tile into acc.
__device__ __forceinline__ void multiply(const PairTile & tile, unsigned char * smem, uint64_t * full, uint64_t * empty, int n_k,
                         uint32_t rank, int mw, float (&acc)[32][4]) {
  const bool has_rows = tile.row_begin + mw * 64 < tile.row_end;
  const int t = threadIdx.x % 128;
  auto release = [&](int s) {  // the wgmma that read stage s has finished in this warpgroup
    if (t == 0) cuda::mbarrier_arrive(&empty[s]);
    if (t == 32 && tile.paired) cuda::mbarrier_arrive_cluster(&empty[s], rank ^ 1u);
  };
#pragma unroll
  for (int i = 0; i < 32; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
  // A separate loop for the idle warpgroup: a wgmma inside a branch on has_rows made ptxas
  // serialize every wgmma of the kernel (C7520).
  if (!has_rows) {  // nothing to multiply: only pass the stages on
    for (int kt = 0; kt < n_k; ++kt) {
      cuda::mbarrier_wait(&full[kt % kStages], (kt / kStages) & 1);
      release(kt % kStages);
    }
    return;
  }
  for (int kt = 0; kt < n_k; ++kt) {
    const int s = kt % kStages;
    cuda::mbarrier_wait(&full[s], (kt / kStages) & 1);
    const Bf16 * sa = reinterpret_cast<const Bf16 *>(smem + s * kStageBytes) + mw * 64 * kBK;
    const Bf16 * sb = reinterpret_cast<const Bf16 *>(smem + s * kStageBytes + kATileBytes);
    cuda::wgmma_fence_operand(acc);
    cuda::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk)
      cuda::wgmma_m64n256k16(acc, cuda::wgmma_descriptor_sw128(sa + kk * 16), cuda::wgmma_descriptor_sw128(sb + kk * 16), 1);
    cuda::wgmma_commit();
    wgmma_wait_one();  // step kt - 1 is done
    cuda::wgmma_fence_operand(acc);
    if (kt > 0) release((kt - 1) % kStages);
  }
  cuda::wgmma_wait_all();
  cuda::wgmma_fence_operand(acc);
  release((n_k - 1) % kStages);
}

template <bool kSwiglu>
__device__ __forceinline__ void store_tile(const MoeGemmArgs & a, const PairTile & tile, int mw, const float (&acc)[32][4]) {
  const int t4 = threadIdx.x % 4, warp = (threadIdx.x / 32) % 4, g = (threadIdx.x % 32) / 4;
  const int r_lo = tile.row_begin + mw * 64 + 16 * warp + g, r_hi = r_lo + 8;
  uint16_t * out = reinterpret_cast<uint16_t *>(a.out);
  if constexpr (kSwiglu) {
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int col = tile.n_tile * kHalfRows + 8 * j + 2 * t4;
      if (col >= a.n) continue;
      if (r_lo < tile.row_end)
        *reinterpret_cast<uint32_t *>(out + int64_t(r_lo) * a.out_stride + col) = cuda::pack_bf16x2(
            swiglu_value(acc[j][0], acc[j + 16][0]), swiglu_value(acc[j][1], acc[j + 16][1]));
      if (r_hi < tile.row_end)
        *reinterpret_cast<uint32_t *>(out + int64_t(r_hi) * a.out_stride + col) = cuda::pack_bf16x2(
            swiglu_value(acc[j][2], acc[j + 16][2]), swiglu_value(acc[j][3], acc[j + 16][3]));
    }
  } else {
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int col = tile.n_tile * kBN + 8 * j + 2 * t4;
      if (col >= a.n) continue;
      if (r_lo < tile.row_end)
        *reinterpret_cast<uint32_t *>(out + int64_t(r_lo) * a.out_stride + col) = cuda::pack_bf16x2(acc[j][0], acc[j][1]);
      if (r_hi < tile.row_end)
        *reinterpret_cast<uint32_t *>(out + int64_t(r_hi) * a.out_stride + col) = cuda::pack_bf16x2(acc[j][2], acc[j][3]);
    }
  }
}

template <bool kSwiglu>
__global__ void __launch_bounds__(kThreads, 1) moe_gemm_cluster_kernel(const __grid_constant__ ClusterParams p) {
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages];
  __shared__ PairTile tile;
  // The 128-byte swizzle needs 1024-byte aligned tiles: round the dynamic base up.
  const uint32_t misalign = cuda::smem_address(smem_raw) & 1023u;
  unsigned char * smem = smem_raw + (misalign ? 1024 - misalign : 0);
  const uint32_t rank = cuda::cluster_cta_rank();
  if (threadIdx.x < 32) find_pair_tile(p, blockIdx.x / 2, int(rank), tile);
  __syncthreads();
  if (tile.expert < 0 || !tile.has_rows) return;  // the peer then works alone (paired is false)
  const bool paired = tile.paired;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      cuda::mbarrier_init(&full[s], 1);
      cuda::mbarrier_init(&empty[s], paired ? 4 : 2);  // one arrival per multiplying warpgroup
    }
    cuda::fence_mbarrier_init();
  }
  // The peer copies into this CTA's stages and arrives on its barriers only after both inited.
  if (paired) cuda::cluster_sync();
  else __syncthreads();
  const int n_k = (p.a.k + kBK - 1) / kBK, wg = threadIdx.x / 128;
  if (wg == 0) {
    cuda::setmaxnreg_dec<kLoaderRegisters>();
    if (threadIdx.x == 0) load_tiles<kSwiglu>(p, tile, smem, full, empty, n_k, rank);
  } else {
    cuda::setmaxnreg_inc<kMultiplierRegisters>();
    float acc[32][4];
    multiply(tile, smem, full, empty, n_k, rank, wg - 1, acc);
    store_tile<kSwiglu>(p.a, tile, wg - 1, acc);
  }
  // Neither CTA leaves while the other may still copy into it or arrive on its barriers.
  if (paired) cuda::cluster_sync();
}

using EncodeTiled = PFN_cuTensorMapEncodeTiled_v12000;

EncodeTiled encode_function() {
  static const EncodeTiled fn = [] {
    void * f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return EncodeTiled(nullptr);
    }
    return reinterpret_cast<EncodeTiled>(f);
  }();
  return fn;
}

// A [rows, cols] bf16 matrix with rows `stride` elements apart, read in 128-row x 64-column boxes
// with the 128-byte swizzle; reads past its edges return zeros.
Status encode_map(CUtensorMap & map, const Bf16 * base, int64_t rows, int64_t cols, int64_t stride, const char * name) {
  static const CUtensorMapL2promotion promotion = [] {  // experiment switch
    const char * v = std::getenv("M1_MOE_PROMOTION");
    return !v ? CU_TENSOR_MAP_L2_PROMOTION_L2_256B
              : std::strcmp(v, "128") == 0 ? CU_TENSOR_MAP_L2_PROMOTION_L2_128B
              : std::strcmp(v, "0") == 0 ? CU_TENSOR_MAP_L2_PROMOTION_NONE : CU_TENSOR_MAP_L2_PROMOTION_L2_256B;
  }();
  const EncodeTiled encode = encode_function();
  if (!encode) return Status::error("moe_expert_gemm: the driver offers no cuTensorMapEncodeTiled (CUDA 12+ driver needed)");
  const cuuint64_t dims[2] = {cuuint64_t(cols), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(stride) * 2};
  const cuuint32_t box[2] = {kBK, kHalfRows}, element_strides[2] = {1, 1};
  const CUresult r = encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<Bf16 *>(base), dims, strides, box,
                            element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            promotion, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return Status::error("moe_expert_gemm: cuTensorMapEncodeTiled failed for " + std::string(name) + " (CUresult " +
                         std::to_string(int(r)) + ")");
  return {};
}

}  // namespace

Status moe_expert_gemm_clustered(const MoeGemmArgs & a, cudaStream_t stream, int prefetch) {
  const int rows_per_expert = a.swiglu ? 2 * a.n : a.n;
  ClusterParams p{};
  p.a = a;
  p.n_tiles = (a.n + (a.swiglu ? kHalfRows : kBN) - 1) / (a.swiglu ? kHalfRows : kBN);
  p.rows_per_expert = rows_per_expert;
  p.prefetch = prefetch;
  M1_RETURN_IF_ERROR(encode_map(p.in_map, a.in, a.n_rows, a.k, a.in_stride, "in"));
  M1_RETURN_IF_ERROR(encode_map(p.weight_map, a.weights, int64_t(a.n_experts) * rows_per_expert, a.k, a.k, "weights"));
  // Clusters: sum over experts of ceil(rows / 256) per weight-row tile, at most this bound.
  const int64_t clusters = (int64_t(a.n_rows) + 2 * kBM - 1) / (2 * kBM) + a.n_experts;
  const int64_t blocks = 2 * clusters * p.n_tiles;
  if (blocks >= (int64_t(1) << 31)) return Status::error("moe_expert_gemm: too many rows for one launch");
  auto kernel = a.swiglu ? moe_gemm_cluster_kernel<true> : moe_gemm_cluster_kernel<false>;
  M1_CUDA_STATUS(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(unsigned(blocks));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = kSmemBytes;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = 2;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  config.attrs = &attribute;
  config.numAttrs = 1;
  M1_CUDA_STATUS(cudaLaunchKernelEx(&config, kernel, p));
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
