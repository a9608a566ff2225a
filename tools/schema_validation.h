// Validates tool-call arguments against the JSON Schema subset that tool specs use: type (one or
// a list), required, properties, additionalProperties (bool or schema), enum, const, minimum,
// maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength (code points), items,
// minItems, maxItems, nested to any depth. Other keywords are ignored.
// Each problem is one line naming where it is and what was expected, e.g.
// "arguments.path: expected string, got number 3", so the model can fix its call.
#pragma once

#include <string>
#include <vector>

#include "tools/tool.h"

namespace m1::tools {

// Every problem found, in document order; empty when `value` conforms. `root` names the value in
// the messages ("arguments").
std::vector<std::string> schema_problems(const Json & schema, const Json & value,
                                         const std::string & root = "arguments");

// The name of a JSON value's type as JSON Schema spells it ("number" for every number).
std::string json_type_name(const Json & value);

}  // namespace m1::tools
