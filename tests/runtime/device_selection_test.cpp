#include "runtime/device_selection.h"

#include <gtest/gtest.h>

TEST(DeviceSelection, ParsesCpuCudaAndLists) {
  EXPECT_TRUE(m1::parse_device_list("cpu")->empty());
  EXPECT_EQ(*m1::parse_device_list("cuda"), std::vector<int>{0});
  EXPECT_EQ(*m1::parse_device_list("cuda:3"), std::vector<int>{3});
  EXPECT_EQ(*m1::parse_device_list("cuda:0,1,7"), (std::vector<int>{0, 1, 7}));
}

TEST(DeviceSelection, RejectsMalformedWithTheReason) {
  for (const char * bad : {"gpu", "cuda:", "cuda:x", "cuda:1,", "cuda:-1", "cuda:1,1"}) {
    auto parsed = m1::parse_device_list(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find(bad), std::string::npos) << parsed.status().message();
  }
}
