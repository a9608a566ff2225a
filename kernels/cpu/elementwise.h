// Row-wise and element-wise fp32 primitives of the M1 forward (M1_SPEC.md section 4): RMSNorm,
// SiLU, sigmoid gating and softmax. Reductions accumulate in double so that a row of thousands of
// channels keeps fp32 accuracy.
#pragma once

#include <cstddef>

namespace m1::kernels::cpu {

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for n_rows rows of width n (strides ldx, ldy).
// y may alias x.
void rmsnorm(const float * x, int ldx, const float * weight, float * y, int ldy, int n_rows, int n,
             double eps);

// x = silu(x) = x * sigmoid(x), in place.
void silu(float * x, size_t n);

// y = sigmoid(g) * y, element-wise.
void sigmoid_gate(const float * g, float * y, size_t n);

// y = silu(gate) * up, element-wise (SwiGLU).
void swiglu(const float * gate, const float * up, float * y, size_t n);

// x = softmax(x) over n values, in place (max-subtracted, fp32).
void softmax(float * x, int n);

// y = alpha * a + beta * b, element-wise (the postnorm residual).
void scaled_sum(float alpha, const float * a, float beta, const float * b, float * y, size_t n);

}  // namespace m1::kernels::cpu
