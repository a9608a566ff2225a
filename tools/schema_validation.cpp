// JSON Schema validation of tool arguments (the subset described in schema_validation.h).
#include "tools/schema_validation.h"

#include <cmath>
#include <sstream>

namespace m1::tools {

std::string json_type_name(const Json & value);

namespace {

bool is_identifier(const std::string & key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0]))) return false;
  for (char c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

std::string member_path(const std::string & parent, const std::string & key) {
  return is_identifier(key) ? parent + "." + key : parent + "[" + Json(key).dump() + "]";
}

size_t code_points(const std::string & text) {
  size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// A short rendering of a value for a message: scalars in full (strings clipped), containers by size.
std::string preview(const Json & value) {
  if (value.is_object()) return "object with " + std::to_string(value.size()) + " properties";
  if (value.is_array()) return "array of " + std::to_string(value.size()) + " items";
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// "number 3", "string \"x\"", "null", "array of 2 items".
std::string describe(const Json & value) {
  if (value.is_null()) return "null";
  if (value.is_structured()) return preview(value);
  return json_type_name(value) + " " + preview(value);
}

bool is_whole_number(const Json & value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  double d = value.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool has_type(const Json & value, const std::string & type) {
  if (type == "string") return value.is_string();
  if (type == "integer") return is_whole_number(value);
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "null") return value.is_null();
  return true;  // unknown type names constrain nothing
}

std::string number_text(const Json & number) {
  std::ostringstream out;
  if (number.is_number_integer()) return number.dump();
  out << number.get<double>();
  return out.str();
}

class Validator {
public:
  std::vector<std::string> problems;

  void check(const Json & schema, const Json & value, const std::string & path) {
    if (!schema.is_object()) return;  // `true`/`{}`-like schemas accept everything
    if (!check_type(schema, value, path)) return;
    check_enum(schema, value, path);
    if (value.is_number()) check_range(schema, value, path);
    if (value.is_string()) check_length(schema, value, path);
    if (value.is_array()) check_array(schema, value, path);
    if (value.is_object()) check_object(schema, value, path);
  }

private:
  void add(const std::string & path, const std::string & what) { problems.push_back(path + ": " + what); }

  bool check_type(const Json & schema, const Json & value, const std::string & path) {
    auto it = schema.find("type");
    if (it == schema.end()) return true;
    std::vector<std::string> allowed;
    if (it->is_string()) allowed.push_back(it->get<std::string>());
    if (it->is_array())
      for (const Json & t : *it)
        if (t.is_string()) allowed.push_back(t.get<std::string>());
    if (allowed.empty()) return true;
    for (const std::string & type : allowed)
      if (has_type(value, type)) return true;
    std::string expected;
    for (size_t i = 0; i < allowed.size(); ++i)
      expected += (i == 0 ? "" : (i + 1 == allowed.size() ? " or " : ", ")) + allowed[i];
    add(path, "expected " + expected + ", got " + describe(value));
    return false;
  }

  void check_enum(const Json & schema, const Json & value, const std::string & path) {
    if (auto it = schema.find("const"); it != schema.end() && *it != value)
      add(path, "expected " + it->dump() + ", got " + preview(value));
    auto it = schema.find("enum");
    if (it == schema.end() || !it->is_array()) return;
    for (const Json & option : *it)
      if (option == value) return;
    std::string options;
    for (const Json & option : *it) options += (options.empty() ? "" : ", ") + option.dump();
    add(path, "expected one of " + options + "; got " + preview(value));
  }

  void check_range(const Json & schema, const Json & value, const std::string & path) {
    double v = value.get<double>();
    auto bound = [&](const char * key, auto violates, const char * relation) {
      auto it = schema.find(key);
      if (it == schema.end() || !it->is_number()) return;
      if (violates(v, it->template get<double>()))
        add(path, std::string("must be ") + relation + " " + number_text(*it) + ", got " + number_text(value));
    };
    bound("minimum", [](double x, double b) { return x < b; }, ">=");
    bound("maximum", [](double x, double b) { return x > b; }, "<=");
    bound("exclusiveMinimum", [](double x, double b) { return x <= b; }, ">");
    bound("exclusiveMaximum", [](double x, double b) { return x >= b; }, "<");
  }

  void check_length(const Json & schema, const Json & value, const std::string & path) {
    size_t n = code_points(value.get_ref<const std::string &>());
    if (auto it = schema.find("minLength"); it != schema.end() && it->is_number() && n < it->get<double>())
      add(path, "must be at least " + it->dump() + " characters long, got " + std::to_string(n));
    if (auto it = schema.find("maxLength"); it != schema.end() && it->is_number() && n > it->get<double>())
      add(path, "must be at most " + it->dump() + " characters long, got " + std::to_string(n));
  }

  void check_array(const Json & schema, const Json & value, const std::string & path) {
    size_t n = value.size();
    if (auto it = schema.find("minItems"); it != schema.end() && it->is_number() && n < it->get<double>())
      add(path, "expected at least " + it->dump() + " items, got " + std::to_string(n));
    if (auto it = schema.find("maxItems"); it != schema.end() && it->is_number() && n > it->get<double>())
      add(path, "expected at most " + it->dump() + " items, got " + std::to_string(n));
    auto items = schema.find("items");
    if (items == schema.end()) return;
    for (size_t i = 0; i < n; ++i) check(*items, value[i], path + "[" + std::to_string(i) + "]");
  }

  void check_object(const Json & schema, const Json & value, const std::string & path) {
    if (auto it = schema.find("required"); it != schema.end() && it->is_array())
      for (const Json & name : *it)
        if (name.is_string() && !value.contains(name.get<std::string>()))
          add(member_path(path, name.get<std::string>()), "required property is missing");
    static const Json no_properties = Json::object();
    auto props_it = schema.find("properties");
    const Json & properties = props_it != schema.end() && props_it->is_object() ? *props_it : no_properties;
    auto additional = schema.find("additionalProperties");
    for (auto member = value.begin(); member != value.end(); ++member) {
      std::string child = member_path(path, member.key());
      if (auto prop = properties.find(member.key()); prop != properties.end()) {
        check(*prop, member.value(), child);
      } else if (additional != schema.end() && additional->is_boolean() && !additional->get<bool>()) {
        std::string allowed;
        for (auto p = properties.begin(); p != properties.end(); ++p) allowed += (allowed.empty() ? "" : ", ") + p.key();
        add(path, "unexpected property " + Json(member.key()).dump() + " (allowed: " +
                      (allowed.empty() ? "none" : allowed) + ")");
      } else if (additional != schema.end() && additional->is_object()) {
        check(*additional, member.value(), child);
      }
    }
  }
};

}  // namespace

std::string json_type_name(const Json & value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number";
    default: return "value";
  }
}

std::vector<std::string> schema_problems(const Json & schema, const Json & value, const std::string & root) {
  Validator validator;
  validator.check(schema, value, root);
  return validator.problems;
}

}  // namespace m1::tools
