// Shared-memory mbarriers (sm_90) for the producer/consumer pipelines of the wgmma kernels: a
// producer arrives on a stage's "full" barrier once its copies landed, consumers arrive on its
// "empty" barrier once they are done reading it.
#pragma once

#include <cstdint>

#include "kernels/cuda/mma.cuh"

namespace m1::kernels::cuda {

__device__ __forceinline__ void mbarrier_init(uint64_t * bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_address(bar)), "r"(count) : "memory");
}

__device__ __forceinline__ void mbarrier_arrive(uint64_t * bar) {
  asm volatile(
      "{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(smem_address(bar))
      : "memory");
}

// Waits until the phase with this parity has completed (acquire: the arrivers' writes are visible).
__device__ __forceinline__ void mbarrier_wait(uint64_t * bar, int parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_address(bar)), "r"(parity)
        : "memory");
  } while (!done);
}

}  // namespace m1::kernels::cuda
