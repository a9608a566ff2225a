// Test support: a path under the temp folder unique to this process, so tests run in parallel
// (ctest -j runs each test as its own process, and other checkouts may run the same tests) never
// share files.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace m1::testing {

inline std::string temp_path(const std::string & name) {
  return (std::filesystem::temp_directory_path() / (name + "_" + std::to_string(getpid()))).string();
}

// Removes a path when the test process ends (a static of the test that made it).
struct RemovedAtExit {
  std::string path;
  ~RemovedAtExit() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace m1::testing
