// Printing resources for people: JSON, YAML and kubectl-style tables.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace brindle::ctl {

// Block-style YAML of a JSON value (keys in the JSON's order; strings quoted when YAML would
// otherwise read them as something else).
std::string to_yaml(const nlohmann::json& value);

}  // namespace brindle::ctl
