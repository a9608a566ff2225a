// Plain data movement on the GPU, in a form that compiles without CUDA: host <-> device copies at
// any offset, strided 2-D copies, zero fills, row gathers (embedding lookup), bf16 -> fp32
// conversion, streams and synchronization. Nothing here knows the model.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

// Synchronous copies (the stream's earlier work is waited for by the legacy default stream).
Status copy_to_device(void * device_dst, const void * host_src, std::size_t n_bytes);
Status copy_to_host(void * host_dst, const void * device_src, std::size_t n_bytes);
// Host -> device on `stream`; the host memory must stay valid until the stream reaches the copy.
Status copy_to_device_async(void * device_dst, const void * host_src, std::size_t n_bytes, Stream stream);
// Asynchronous on `stream` when host_dst is pinned (PinnedHostBuffer); synchronize before reading it.
Status copy_to_host_async(void * host_dst, const void * device_src, std::size_t n_bytes, Stream stream);

// height rows of width_bytes each, from src (rows src_pitch bytes apart) to dst (dst_pitch apart),
// device to device.
Status copy_2d(void * dst, std::size_t dst_pitch, const void * src, std::size_t src_pitch,
               std::size_t width_bytes, std::size_t height, Stream stream);

Status fill_zero(void * device_dst, std::size_t n_bytes, Stream stream);

// n values uniform in [lo, hi) from a hash of (seed, index), as fp32 (f32) or bf16: random weights
// drawn on the device for benchmarks at sizes a checkpoint file would take minutes to write.
Status fill_uniform(void * device_dst, std::int64_t n, bool f32, std::uint64_t seed, float lo, float hi,
                    Stream stream);

// out[i, :] = table[ids[i], :] for i < n_rows; width in elements (multiple of 8), ids on the device.
Status gather_rows(const Bf16 * table, int width, const std::int32_t * ids, int n_rows, Bf16 * out,
                   Stream stream);

// out[i] = float(in[i]) for n elements.
Status bf16_to_f32(const Bf16 * in, float * out, std::int64_t n, Stream stream);

Status synchronize(Stream stream);

}  // namespace m1::kernels::gpu
