#include "kernels/cpu_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

TEST(CpuInfo, ReportsThreadsAndOpenBlas) {
  m1::kernels::CpuReport report = m1::kernels::probe_cpu();
  EXPECT_EQ(long(report.hardware_threads), sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_NE(report.blas.find("OpenBLAS"), std::string::npos) << report.blas;
  EXPECT_GE(report.blas_threads, 1);
}
