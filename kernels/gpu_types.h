// Types the GPU launchers take, in a form that compiles without CUDA: a stream handle (a
// cudaStream_t cast to void*) and bf16 values as their 16 bits.
#pragma once

#include <cstdint>

namespace m1::kernels::gpu {

using Stream = void *;          // a cudaStream_t; nullptr is the legacy default stream
using Bf16 = std::uint16_t;     // bfloat16 bits: the upper half of the IEEE float32 pattern

}  // namespace m1::kernels::gpu
