#include "api/json_fields.hpp"

#include <limits>

namespace hearth::api::json_fields {

namespace {

std::string number_text(double number) { return Json(number).dump(); }

}  // namespace

void reject(std::string message, std::string param, std::string code) {
  throw Rejected{invalid_request(std::move(message), std::move(param), std::move(code))};
}

void reject_type(const Json& value, std::string_view expected, const std::string& path) {
  reject("Invalid type for '" + path + "': expected " + std::string(expected) + ", but got " +
             value.type_name(),
         path, "invalid_type");
}

std::string index_path(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

const Json* find_optional(const Json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const Json& require(const Json& object, std::string_view key, const std::string& path) {
  const Json* value = find_optional(object, key);
  if (value == nullptr) {
    reject("Missing required parameter: '" + path + "'", path, "missing_required_parameter");
  }
  return *value;
}

const std::string& as_string(const Json& value, const std::string& path) {
  if (!value.is_string()) reject_type(value, "a string", path);
  return value.get_ref<const std::string&>();
}

bool as_bool(const Json& value, const std::string& path) {
  if (!value.is_boolean()) reject_type(value, "a boolean", path);
  return value.get<bool>();
}

const Json& as_object(const Json& value, const std::string& path) {
  if (!value.is_object()) reject_type(value, "an object", path);
  return value;
}

const Json& as_array(const Json& value, const std::string& path) {
  if (!value.is_array()) reject_type(value, "an array", path);
  return value;
}

// The parser keeps non-negative integers as uint64_t, so the large ones are checked before
// conversion.
int64_t as_int64(const Json& value, const std::string& path) {
  if (!value.is_number_integer()) reject_type(value, "an integer", path);
  if (value.is_number_unsigned() &&
      value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    reject("Invalid '" + path + "': integer out of range", path, "invalid_value");
  }
  return value.get<int64_t>();
}

int as_int_in_range(const Json& value, int64_t min, int64_t max, const std::string& path) {
  const int64_t number = as_int64(value, path);
  if (number < min || number > max) {
    reject("Invalid '" + path + "': expected an integer between " + std::to_string(min) + " and " +
               std::to_string(max) + ", but got " + std::to_string(number),
           path, "invalid_value");
  }
  return static_cast<int>(number);
}

double as_number_in_range(const Json& value, double min, double max, const std::string& path) {
  if (!value.is_number()) reject_type(value, "a number", path);
  const double number = value.get<double>();
  if (!(number >= min && number <= max)) {
    reject("Invalid '" + path + "': expected a number between " + number_text(min) + " and " +
               number_text(max) + ", but got " + value.dump(),
           path, "invalid_value");
  }
  return number;
}

}  // namespace hearth::api::json_fields
