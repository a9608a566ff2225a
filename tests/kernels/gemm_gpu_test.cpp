// gemm_nt at decode sizes (a few rows of A): the weight-streaming kernel and cuBLAS, each against
// a float64 product of the same bf16 inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/gemm_gpu.h"
#include "tests/kernels/gpu_test_support.h"

namespace {

using m1::kernels::DeviceBuffer;
using m1::kernels::gpu::Bf16;
using m1::test::device_copy;
using m1::test::from_bf16;
using m1::test::host_copy;
using m1::test::to_bf16;

// fp32 accumulation of k bf16 products (exact in fp32) in chains and a 5-level warp tree: well
// inside 2e-5 of sum |a b| for k <= 8K; a bf16 output adds one rounding (2^-8 relative).
constexpr double kSumTol = 2e-5;
constexpr double kBf16Rounding = 1.0 / 256;

TEST(GemmGpu, StreamingAndCublasMatchFloat64AtDecodeRows) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(31);
  std::normal_distribution<float> normal(0.f, 1.f);
  struct Case { int m, n, k; bool f32_out; float alpha; };
  for (Case c : {Case{1, 1000, 2048, false, 1.f}, Case{1, 2056, 6152, true, 1.f}, Case{3, 777, 40, false, 1.5f},
                 Case{8, 264, 1032, true, 0.5f}, Case{5, 96, 8200, false, 1.f}}) {
    const int lda = c.k + 8, ldb = c.k + 16, ldc = c.n + 3;
    std::vector<Bf16> a(size_t(c.m) * lda), b(size_t(c.n) * ldb);
    for (Bf16 & v : a) v = to_bf16(normal(rng));
    for (Bf16 & v : b) v = to_bf16(normal(rng) / std::sqrt(float(c.k)));
    DeviceBuffer d_a = device_copy(a), d_b = device_copy(b);
    for (auto kernel : {m1::kernels::gpu::GemmKernel::streaming, m1::kernels::gpu::GemmKernel::cublas}) {
      SCOPED_TRACE(std::to_string(c.m) + " x " + std::to_string(c.n) + " x " + std::to_string(c.k) +
                   (c.f32_out ? " f32" : " bf16") + " out, " +
                   (kernel == m1::kernels::gpu::GemmKernel::streaming ? "streaming" : "cuBLAS"));
      DeviceBuffer d_c = c.f32_out ? device_copy(std::vector<float>(size_t(c.m) * ldc, NAN))
                                   : device_copy(std::vector<Bf16>(size_t(c.m) * ldc, 0xffff));
      m1::kernels::gpu::GemmArgs g;
      g.m = c.m, g.n = c.n, g.k = c.k, g.a = d_a.data(), g.lda = lda, g.b = d_b.data(), g.ldb = ldb;
      g.c = d_c.data(), g.ldc = ldc, g.alpha = c.alpha, g.kernel = kernel;
      g.c_type = c.f32_out ? m1::kernels::gpu::ElementType::f32 : m1::kernels::gpu::ElementType::bf16;
      const m1::Status status = m1::kernels::gpu::gemm_nt(g, nullptr);
      ASSERT_TRUE(status.ok()) << status.message();
      std::vector<float> got32 = c.f32_out ? host_copy<float>(d_c, size_t(c.m) * ldc) : std::vector<float>();
      std::vector<Bf16> got16 = c.f32_out ? std::vector<Bf16>() : host_copy<Bf16>(d_c, size_t(c.m) * ldc);
      ASSERT_FALSE(got32.empty() && got16.empty());
      int misses = 0, touched_padding = 0;
      for (int r = 0; r < c.m; ++r) {
        for (int j = 0; j < c.n; ++j) {
          double want = 0, size = 0;
          for (int i = 0; i < c.k; ++i) {
            const double term = double(from_bf16(a[size_t(r) * lda + i])) * from_bf16(b[size_t(j) * ldb + i]);
            want += term, size += std::abs(term);
          }
          want *= c.alpha, size *= std::abs(c.alpha);
          const size_t at = size_t(r) * ldc + j;
          const double got = c.f32_out ? got32[at] : from_bf16(got16[at]);
          const double tol = kSumTol * size + (c.f32_out ? 0.0 : kBf16Rounding * std::abs(want));
          misses += !(std::abs(got - want) <= tol);
        }
        for (int j = c.n; j < ldc; ++j)  // columns past n stay as they were
          touched_padding += c.f32_out ? !std::isnan(got32[size_t(r) * ldc + j]) : got16[size_t(r) * ldc + j] != 0xffff;
      }
      EXPECT_EQ(misses, 0);
      EXPECT_EQ(touched_padding, 0);
    }
  }
}

TEST(GemmGpu, StreamingKernelRefusesShapesItCannotRun) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  DeviceBuffer d_a = device_copy(std::vector<Bf16>(16 * 64)), d_b = device_copy(std::vector<Bf16>(64 * 64));
  DeviceBuffer d_c = device_copy(std::vector<Bf16>(16 * 64));
  m1::kernels::gpu::GemmArgs g;
  g.m = m1::kernels::gpu::kGemvMaxRows + 1, g.n = 64, g.k = 64, g.a = d_a.data(), g.lda = 64, g.b = d_b.data();
  g.ldb = 64, g.c = d_c.data(), g.ldc = 64, g.kernel = m1::kernels::gpu::GemmKernel::streaming;
  EXPECT_FALSE(m1::kernels::gpu::gemm_nt(g, nullptr).ok());
  g.m = 1, g.k = 60, g.lda = 60, g.ldb = 60;  // rows off the 16-byte grid
  EXPECT_FALSE(m1::kernels::gpu::gemm_nt(g, nullptr).ok());
  g.k = 64, g.lda = 64, g.ldb = 64;
  EXPECT_TRUE(m1::kernels::gpu::gemm_nt(g, nullptr).ok());
}

}  // namespace
