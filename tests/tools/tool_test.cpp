#include "tools/tool.h"

#include <gtest/gtest.h>

TEST(Tool, FunctionSchemaKeepsKeyOrder) {
  m1::tools::ToolSpec spec{
      "read_file", "Reads a file",
      nlohmann::ordered_json::parse(R"({"type": "object", "properties": {"path": {"type": "string"}}})")};
  EXPECT_EQ(
      m1::tools::function_schema(spec).dump(),
      R"({"type":"function","function":{"name":"read_file","description":"Reads a file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}})");
}
