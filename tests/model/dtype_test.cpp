// bf16/fp16 conversions against values worked out by hand from the IEEE layouts.
#include "model/dtype.h"

#include <gtest/gtest.h>

#include <cmath>

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(m1::f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 lies exactly halfway between bf16 1.0 and 1 + 2^-7: ties go to the even mantissa.
  EXPECT_EQ(m1::f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(m1::f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(m1::bf16_to_f32(0xc040), -3.0f);
  EXPECT_TRUE(std::isnan(m1::bf16_to_f32(m1::f32_to_bf16(NAN))));
}

TEST(DType, F16DecodesNormalsSubnormalsAndSpecials) {
  EXPECT_EQ(m1::f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(m1::f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(m1::f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(m1::f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(m1::f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(m1::f16_to_f32(0x7e00)));
}

TEST(DType, NamesAndSizesRoundTrip) {
  for (m1::DType t : {m1::DType::f32, m1::DType::f16, m1::DType::bf16, m1::DType::i8})
    EXPECT_EQ(m1::parse_dtype(m1::dtype_name(t)), t);
  EXPECT_EQ(m1::dtype_size(m1::DType::bf16), 2u);
  EXPECT_FALSE(m1::parse_dtype("F64").has_value());
}
