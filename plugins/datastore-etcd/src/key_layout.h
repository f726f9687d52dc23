// Where resources live in etcd's flat key space.
//
// Layout: one key per resource,
//
//   <prefix><kind>/<namespace>/<name>      namespaced kinds, e.g.
//   /brindle/v1/NetworkPolicy/prod/deny <prefix><kind>/_/<name>                cluster-scoped
//   kinds, e.g. /brindle/v1/IPPool/_/default
//
// <prefix> is the configured `prefix` (default "/brindle/v1/", always ending in '/'). "_" cannot be
// a namespace name (namespaces are DNS labels), so the two forms never collide. No segment may be
// empty or contain '/'. The value is the resource's JSON document; the resource's revision is the
// key's etcd mod_revision, so it is not stored in the document.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "brindle/sdk.hpp"

namespace brindle::etcd {

class KeyLayout {
 public:
  static constexpr std::string_view kDefaultPrefix = "/brindle/v1/";
  static constexpr std::string_view kClusterScope = "_";

  explicit KeyLayout(std::string prefix);

  const std::string& prefix() const noexcept { return prefix_; }

  // The key of one resource. Throws Error(INVALID_ARGUMENT) naming the bad field.
  std::string key_of(const ResourceKey& key) const;

  // The first key of the range holding `kind` (empty = all kinds) in `namespace_` (empty = all
  // namespaces; only narrows the range when kind is given too).
  std::string range_start(std::string_view kind, std::string_view namespace_) const;

  // Parses a key under the prefix; nullopt when it is not a resource key (garbage).
  std::optional<ResourceKey> parse(std::string_view key) const;

  // The end of the range of every key starting with `start` (etcd's "prefix + 1").
  static std::string prefix_range_end(std::string_view start);

 private:
  std::string prefix_;
};

}  // namespace brindle::etcd
