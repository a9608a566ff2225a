// Hopper (sm_90) bulk tensor copies and the barriers around them: mbarrier waits and arrivals
// (local and on a cluster peer), 2D tensor-map loads into shared memory (one CTA or multicast to
// several CTAs of a cluster), and cluster-wide barriers. PTX ISA sections "mbarrier",
// "cp.async.bulk.tensor" and "barrier.cluster".
#pragma once

#include <cstdint>

#include "kernels/cuda/mma.cuh"

namespace m1::kernels::cuda {

__device__ __forceinline__ void mbarrier_init(uint64_t * bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_address(bar)), "r"(count) : "memory");
}

// Makes barrier initialisation visible to the async proxy and to the other CTAs of the cluster.
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// Spins until the phase with the given parity (0 or 1) of the barrier has completed.
__device__ __forceinline__ void mbarrier_wait(uint64_t * bar, uint32_t parity) {
  const uint32_t address = smem_address(bar);
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(address), "r"(parity)
        : "memory");
  } while (!done);
}

// One arrival that also announces `bytes` more to come from bulk copies in this phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t * bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_address(bar)), "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void mbarrier_arrive(uint64_t * bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_address(bar)) : "memory");
}

// An arrival on the barrier at the same shared-memory offset in CTA `cta` of this cluster.
__device__ __forceinline__ void mbarrier_arrive_cluster(uint64_t * bar, uint32_t cta) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_address(bar)), "r"(cta));
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];\n" ::"r"(remote) : "memory");
}

__device__ __forceinline__ uint32_t cluster_cta_rank() {
  uint32_t rank;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
  return rank;
}

// Every thread of the cluster that has not exited arrives, then waits for the others; the
// release/acquire pair orders shared-memory work across the cluster. Safe in divergent code.
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}

// Box (c0, c1) of the 2D tensor map (c0 the contiguous coordinate) into this CTA's shared memory;
// completion is counted in bytes on `bar`. Elements outside the tensor arrive as zeros.
__device__ __forceinline__ void tma_load_2d(void * dst, const void * tensor_map, uint64_t * bar, int c0, int c1) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
          smem_address(dst)),
      "l"(reinterpret_cast<uint64_t>(tensor_map)), "r"(c0), "r"(c1), "r"(smem_address(bar))
      : "memory");
}

// The same box into the same shared-memory offset of every CTA in `cta_mask` (bit i: cluster rank
// i), each copy completing on the barrier at `bar`'s offset in that CTA.
__device__ __forceinline__ void tma_load_2d_multicast(void * dst, const void * tensor_map, uint64_t * bar, int c0,
                                                      int c1, uint16_t cta_mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, "
      "%3}], [%4], %5;\n" ::"r"(smem_address(dst)),
      "l"(reinterpret_cast<uint64_t>(tensor_map)), "r"(c0), "r"(c1), "r"(smem_address(bar)), "h"(cta_mask)
      : "memory");
}

// Box (c0, c1) of the tensor map into L2 only.
__device__ __forceinline__ void tma_prefetch_2d(const void * tensor_map, int c0, int c1) {
  asm volatile("cp.async.bulk.prefetch.tensor.2d.L2.global [%0, {%1, %2}];\n" ::"l"(reinterpret_cast<uint64_t>(tensor_map)),
               "r"(c0), "r"(c1)
               : "memory");
}

// Register budget hand-over between warpgroups (sm_90a): producers give registers back, the
// warpgroups holding accumulators take them.
template <int N> __device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N> __device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}

}  // namespace m1::kernels::cuda
