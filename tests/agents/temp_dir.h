// Test support: a temporary folder removed (with its contents) when the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace m1::test {

class TempDir {
public:
  TempDir() {
    char name[] = "/tmp/m1-agents-XXXXXX";
    path_ = mkdtemp(name);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir &) = delete;
  TempDir & operator=(const TempDir &) = delete;
  const std::string & path() const { return path_; }
  std::string file(const std::string & name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

inline void write_file(const std::string & path, const std::string & bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string read_file(const std::string & path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace m1::test
