// Test support for the tools: a fresh workspace folder per test, file helpers that work on the
// host directly (the independent view the tests check the tools against), and a context.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tools/tool.h"

namespace m1::test {

class WorkspaceTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/m1-tools-test-XXXXXX";
    base_ = mkdtemp(pattern);
    root = base_ + "/ws";
    outside = base_ + "/outside";
    std::filesystem::create_directories(root);
    std::filesystem::create_directories(outside);
    context.workspace = root;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(base_, ignored);
  }

  void write(const std::string & relative, const std::string & bytes) const {
    std::filesystem::path path = std::filesystem::path(root) / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
  }
  std::string read(const std::string & relative) const { return read_host(root + "/" + relative); }
  static std::string read_host(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }
  bool exists(const std::string & relative) const {
    struct stat st {};
    return ::lstat((root + "/" + relative).c_str(), &st) == 0;
  }
  void symlink(const std::string & target, const std::string & relative) const {
    ASSERT_EQ(::symlink(target.c_str(), (root + "/" + relative).c_str()), 0);
  }

  std::string root, outside;
  tools::ToolContext context;

private:
  std::string base_;
};

}  // namespace m1::test
