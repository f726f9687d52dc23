// Typed access to JSON members that names the member in every error ("params.ifname: expected a
// string"). Private to the cni libraries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "brindle/cni/protocol.hpp"

namespace brindle::cni::detail {

inline std::string member_path(std::string_view where, std::string_view key) {
  return std::string(where) + "." + std::string(key);
}

inline const nlohmann::json* find_member(const nlohmann::json& object, std::string_view key) {
  auto found = object.find(key);
  if (found == object.end() || found->is_null()) {
    return nullptr;
  }
  return &*found;
}

inline std::optional<std::string> optional_string(const nlohmann::json& object,
                                                  std::string_view key, std::string_view where,
                                                  int code) {
  const nlohmann::json* value = find_member(object, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_string()) {
    throw ProtocolError(code, member_path(where, key) + ": expected a string");
  }
  return value->get<std::string>();
}

inline std::string required_string(const nlohmann::json& object, std::string_view key,
                                   std::string_view where, int code) {
  auto value = optional_string(object, key, where, code);
  if (!value) {
    throw ProtocolError(code, member_path(where, key) + ": missing");
  }
  return *value;
}

inline std::optional<int64_t> optional_integer(const nlohmann::json& object, std::string_view key,
                                               std::string_view where, int code, int64_t min,
                                               int64_t max) {
  const nlohmann::json* value = find_member(object, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_number_integer()) {
    throw ProtocolError(code, member_path(where, key) + ": expected an integer");
  }
  int64_t number = value->is_number_unsigned()
                       ? static_cast<int64_t>(std::min<uint64_t>(value->get<uint64_t>(), INT64_MAX))
                       : value->get<int64_t>();
  if (number < min || number > max) {
    throw ProtocolError(code, member_path(where, key) + ": " + std::to_string(number) +
                                  " is outside " + std::to_string(min) + ".." +
                                  std::to_string(max));
  }
  return number;
}

inline int64_t required_integer(const nlohmann::json& object, std::string_view key,
                                std::string_view where, int code, int64_t min, int64_t max) {
  auto value = optional_integer(object, key, where, code, min, max);
  if (!value) {
    throw ProtocolError(code, member_path(where, key) + ": missing");
  }
  return *value;
}

inline const nlohmann::json& required_object(const nlohmann::json& object, std::string_view key,
                                             std::string_view where, int code) {
  const nlohmann::json* value = find_member(object, key);
  if (value == nullptr) {
    throw ProtocolError(code, member_path(where, key) + ": missing");
  }
  if (!value->is_object()) {
    throw ProtocolError(code, member_path(where, key) + ": expected an object");
  }
  return *value;
}

inline std::vector<std::string> optional_string_list(const nlohmann::json& object,
                                                     std::string_view key, std::string_view where,
                                                     int code) {
  std::vector<std::string> result;
  const nlohmann::json* value = find_member(object, key);
  if (value == nullptr) {
    return result;
  }
  if (!value->is_array()) {
    throw ProtocolError(code, member_path(where, key) + ": expected an array of strings");
  }
  for (size_t i = 0; i < value->size(); ++i) {
    if (!(*value)[i].is_string()) {
      throw ProtocolError(
          code, member_path(where, key) + "[" + std::to_string(i) + "]: expected a string");
    }
    result.push_back((*value)[i].get<std::string>());
  }
  return result;
}

}  // namespace brindle::cni::detail
