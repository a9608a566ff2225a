// Warp-level tensor-core and async-copy primitives (sm_80+ PTX, run on sm_90a): ldmatrix,
// mma.sync m16n8k16 bf16 -> fp32, cp.async with zero fill, and bf16 packing. Fragment layouts
// (g = lane / 4, t = lane % 4), from the PTX ISA "mma.m16n8k16" section:
//   A 16x16 row-major: a0 (row g, cols 2t..2t+1), a1 (row g+8, same), a2 (row g, cols 2t+8..),
//                      a3 (row g+8, cols 2t+8..)
//   B 16x8 (k x n):    b0 (k 2t..2t+1, col g), b1 (k 2t+8..2t+9, col g)
//   C 16x8 fp32:       c0,c1 (row g, cols 2t, 2t+1), c2,c3 (row g+8, same)
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace m1::kernels::cuda {

__device__ __forceinline__ uint32_t smem_address(const void * p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8x8 bf16 matrices; lane i gives the address of row i % 8 of matrix i / 8; register j holds
// matrix j with lane (g, t) owning row g, cols 2t..2t+1 (trans: rows 2t..2t+1 of col g).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void * p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(p)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void * p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(p)));
}

// d += a * b for one 16x8x16 tile.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 16-byte global -> shared copy; when !valid the destination is filled with zeros (src-size 0)
// and src must still be a mapped address.
__device__ __forceinline__ void cp_async_16(void * dst, const void * src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_address(dst)),
               "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Two floats as bf16 (round to nearest even); lo goes to the lower 16 bits (the smaller column).
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ float bf16_bits_to_float(uint32_t bits16) {
  return __uint_as_float(bits16 << 16);
}

// Eight bf16 values (one 16-byte load, lowest address first) as floats.
__device__ __forceinline__ void unpack_bf16x8(const uint4 & v, float (&f)[8]) {
  const uint32_t parts[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = bf16_bits_to_float(parts[i] & 0xffffu);
    f[2 * i + 1] = bf16_bits_to_float(parts[i] >> 16);
  }
}

// Multiplies the two bf16 values of a packed pair by lo_scale and hi_scale, rounding again.
__device__ __forceinline__ uint32_t scale_bf16x2(uint32_t pair, float lo_scale, float hi_scale) {
  float lo = bf16_bits_to_float(pair & 0xffffu) * lo_scale;
  float hi = bf16_bits_to_float(pair >> 16) * hi_scale;
  return pack_bf16x2(lo, hi);
}

// 16 bytes of a matrix that is read once (weights streamed by the decode GEMVs): not kept in L1,
// which holds the few activation rows that every warp rereads.
__device__ __forceinline__ uint4 load_streaming(const void * p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// acc + w . x over 8 values, x as 8 packed bf16.
__device__ __forceinline__ float dot8(const float (&w)[8], const uint4 & x, float acc) {
  float f[8];
  unpack_bf16x8(x, f);
#pragma unroll
  for (int i = 0; i < 8; ++i) acc = fmaf(w[i], f[i], acc);
  return acc;
}

}  // namespace m1::kernels::cuda
