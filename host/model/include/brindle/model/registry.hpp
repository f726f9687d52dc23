// The list of resource kinds: their names, scope, validation and `get` table columns.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "brindle/model/resource.hpp"

namespace brindle::model {

struct Column {
  std::string_view header;  // upper case, like kubectl/calicoctl
  bool wide_only = false;   // only in `-o wide`
};

struct KindInfo {
  std::string_view kind;  // "IPPool"
  bool namespaced = false;
  std::vector<std::string_view> aliases;  // lower case: "ippool", "ippools", "pool", ...
  // Checks metadata and spec, fills defaults, canonicalises the spec. Throws ValidationError.
  std::function<void(Resource&)> validate_and_default;
  // The table columns; the first is NAME. row() returns one cell per column (wide ones included).
  // A spec that does not decode gives "<invalid>" cells rather than an exception.
  std::vector<Column> columns;
  std::function<std::vector<std::string>(const Resource&)> row;
};

const std::vector<KindInfo>& all_kinds();
// By kind name or alias, case-insensitively ("IPPool", "ippools", "gnp"); nullptr if unknown.
const KindInfo* find_kind(std::string_view name);

// A kubectl-style table: upper-case headers, columns separated by three spaces, one row per
// resource. `with_namespace` adds a NAMESPACE column first (namespaced kinds only).
std::string render_table(const KindInfo& kind, const std::vector<Resource>& resources, bool wide,
                         bool with_namespace);

}  // namespace brindle::model
