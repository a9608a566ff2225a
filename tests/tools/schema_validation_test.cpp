// Argument validation: each keyword's pass and fail cases, with the exact message the model reads.
#include "tools/schema_validation.h"

#include <gtest/gtest.h>

using m1::tools::Json;
using m1::tools::schema_problems;

namespace {

const Json kEditSchema = Json::parse(R"({
  "type": "object",
  "properties": {
    "command": {"type": "string", "enum": ["view", "create"]},
    "path": {"type": "string", "minLength": 1, "maxLength": 5},
    "timeout": {"type": "integer", "minimum": 1, "maximum": 600},
    "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
    "flag": {"type": "boolean"}
  },
  "required": ["command", "path"],
  "additionalProperties": false
})");

std::vector<std::string> problems(const char * arguments) { return schema_problems(kEditSchema, Json::parse(arguments)); }

}  // namespace

TEST(SchemaValidation, ConformingArgumentsHaveNoProblems) {
  EXPECT_TRUE(problems(R"({"command": "view", "path": "a.txt", "timeout": 600, "ratio": 0.5,
                           "view_range": [1, -1], "flag": true})").empty());
}

TEST(SchemaValidation, WrongTypeNamesExpectedAndFound) {
  EXPECT_EQ(problems(R"({"command": "view", "path": 3})"),
            std::vector<std::string>{"arguments.path: expected string, got number 3"});
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "flag": "yes"})"),
            std::vector<std::string>{"arguments.flag: expected boolean, got string \"yes\""});
  EXPECT_EQ(schema_problems(kEditSchema, Json::array()),
            std::vector<std::string>{"arguments: expected object, got array of 0 items"});
}

TEST(SchemaValidation, IntegerAcceptsWholeNumbersOnly) {
  EXPECT_TRUE(problems(R"({"command": "view", "path": "a", "timeout": 5.0})").empty());
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "timeout": 1.5})"),
            std::vector<std::string>{"arguments.timeout: expected integer, got number 1.5"});
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "timeout": true})"),
            std::vector<std::string>{"arguments.timeout: expected integer, got boolean true"});
}

TEST(SchemaValidation, MissingRequiredProperty) {
  EXPECT_EQ(problems(R"({"path": "a"})"), std::vector<std::string>{"arguments.command: required property is missing"});
}

TEST(SchemaValidation, EnumListsTheOptions) {
  EXPECT_EQ(problems(R"({"command": "open", "path": "a"})"),
            std::vector<std::string>{"arguments.command: expected one of \"view\", \"create\"; got \"open\""});
}

TEST(SchemaValidation, Ranges) {
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "timeout": 0})"),
            std::vector<std::string>{"arguments.timeout: must be >= 1, got 0"});
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "timeout": 601})"),
            std::vector<std::string>{"arguments.timeout: must be <= 600, got 601"});
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "ratio": 0})"),
            std::vector<std::string>{"arguments.ratio: must be > 0, got 0"});
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "ratio": 1.0})"),
            std::vector<std::string>{"arguments.ratio: must be < 1, got 1"});
}

TEST(SchemaValidation, StringLengthCountsCodePoints) {
  EXPECT_TRUE(problems(R"({"command": "view", "path": "héllo"})").empty());  // 6 bytes, 5 code points
  EXPECT_EQ(problems(R"({"command": "view", "path": "hélloo"})"),
            std::vector<std::string>{"arguments.path: must be at most 5 characters long, got 6"});
  EXPECT_EQ(problems(R"({"command": "view", "path": ""})"),
            std::vector<std::string>{"arguments.path: must be at least 1 characters long, got 0"});
}

TEST(SchemaValidation, ArrayItemsAndCounts) {
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "view_range": [1]})"),
            std::vector<std::string>{"arguments.view_range: expected at least 2 items, got 1"});
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "view_range": [1, 2, 3]})"),
            std::vector<std::string>{"arguments.view_range: expected at most 2 items, got 3"});
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "view_range": [1, "end"]})"),
            std::vector<std::string>{"arguments.view_range[1]: expected integer, got string \"end\""});
}

TEST(SchemaValidation, AdditionalPropertiesFalseNamesTheAllowedOnes) {
  EXPECT_EQ(problems(R"({"command": "view", "path": "a", "file": "b"})"),
            std::vector<std::string>{"arguments: unexpected property \"file\" (allowed: command, path, timeout, ratio, "
                                     "view_range, flag)"});
}

TEST(SchemaValidation, AdditionalPropertiesSchemaAppliesToTheRest) {
  Json schema = Json::parse(R"({"type": "object", "properties": {"a": {"type": "string"}},
                                "additionalProperties": {"type": "integer"}})");
  EXPECT_TRUE(schema_problems(schema, Json::parse(R"({"a": "x", "b": 1})")).empty());
  EXPECT_EQ(schema_problems(schema, Json::parse(R"({"a": "x", "odd key": "y"})")),
            std::vector<std::string>{"arguments[\"odd key\"]: expected integer, got string \"y\""});
}

TEST(SchemaValidation, NestedObjectsAndArraysReportFullPaths) {
  Json schema = Json::parse(R"({"type": "object", "properties": {
      "edits": {"type": "array", "items": {"type": "object", "required": ["line"],
        "properties": {"line": {"type": "integer"}, "opts": {"type": "object",
          "properties": {"mode": {"enum": ["a", "b"]}}, "additionalProperties": false}}}}}})");
  EXPECT_EQ(schema_problems(schema, Json::parse(R"({"edits": [{"line": 1}, {"line": 1.5}, {}, {"line": 2,
                                                 "opts": {"mode": "c", "x": 1}}]})")),
            (std::vector<std::string>{"arguments.edits[1].line: expected integer, got number 1.5",
                                      "arguments.edits[2].line: required property is missing",
                                      "arguments.edits[3].opts.mode: expected one of \"a\", \"b\"; got \"c\"",
                                      "arguments.edits[3].opts: unexpected property \"x\" (allowed: mode)"}));
}

TEST(SchemaValidation, TypeListAndConst) {
  Json schema = Json::parse(R"({"type": "object", "properties": {"v": {"type": ["string", "null"]},
                                "k": {"const": 3}}})");
  EXPECT_TRUE(schema_problems(schema, Json::parse(R"({"v": null, "k": 3})")).empty());
  EXPECT_EQ(schema_problems(schema, Json::parse(R"({"v": 1, "k": 4})")),
            (std::vector<std::string>{"arguments.v: expected string or null, got number 1",
                                      "arguments.k: expected 3, got 4"}));
}

TEST(SchemaValidation, EveryProblemIsReportedInDocumentOrder) {
  EXPECT_EQ(problems(R"({"command": 1, "path": 2, "timeout": -1})"),
            (std::vector<std::string>{"arguments.command: expected string, got number 1",
                                      "arguments.path: expected string, got number 2",
                                      "arguments.timeout: must be >= 1, got -1"}));
}

TEST(SchemaValidation, LongValuesAreShortenedInMessages) {
  std::string long_text(200, 'x');
  auto found = problems(("{\"command\": \"view\", \"path\": \"a\", \"flag\": \"" + long_text + "\"}").c_str());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_LT(found[0].size(), 120u);
  EXPECT_NE(found[0].find("..."), std::string::npos);
}
