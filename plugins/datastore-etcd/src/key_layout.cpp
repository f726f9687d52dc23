#include "key_layout.h"

#include <algorithm>

namespace brindle::etcd {
namespace {

// Why a segment cannot be used in a key, or nullptr when it can.
const char* segment_problem(std::string_view segment) {
  if (segment.empty()) {
    return "must not be empty";
  }
  if (segment.find('/') != std::string_view::npos) {
    return "must not contain '/'";
  }
  if (std::any_of(segment.begin(), segment.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return "must not contain control characters";
  }
  return nullptr;
}

void check_segment(std::string_view field, std::string_view value) {
  if (const char* problem = segment_problem(value)) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                std::string(field) + " \"" + std::string(value) + "\" " + problem);
  }
}

}  // namespace

KeyLayout::KeyLayout(std::string prefix) : prefix_(std::move(prefix)) {
  if (prefix_.empty() || prefix_.back() != '/') {
    prefix_.push_back('/');
  }
}

std::string KeyLayout::key_of(const ResourceKey& key) const {
  check_segment("kind", key.kind);
  if (!key.namespace_.empty()) {
    check_segment("metadata.namespace", key.namespace_);
    if (key.namespace_ == kClusterScope) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "metadata.namespace \"_\" is reserved");
    }
  }
  check_segment("metadata.name", key.name);
  return prefix_ + key.kind + "/" +
         (key.namespace_.empty() ? std::string(kClusterScope) : key.namespace_) + "/" + key.name;
}

std::string KeyLayout::range_start(std::string_view kind, std::string_view namespace_) const {
  if (kind.empty()) {
    return prefix_;
  }
  check_segment("kind", kind);
  std::string start = prefix_ + std::string(kind) + "/";
  if (!namespace_.empty()) {
    check_segment("namespace", namespace_);
    start += std::string(namespace_) + "/";
  }
  return start;
}

std::optional<ResourceKey> KeyLayout::parse(std::string_view key) const {
  if (key.substr(0, prefix_.size()) != prefix_) {
    return std::nullopt;
  }
  key.remove_prefix(prefix_.size());
  const size_t first = key.find('/');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  const size_t second = key.find('/', first + 1);
  if (second == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view kind = key.substr(0, first);
  const std::string_view ns = key.substr(first + 1, second - first - 1);
  const std::string_view name = key.substr(second + 1);
  if (segment_problem(kind) != nullptr || segment_problem(ns) != nullptr ||
      segment_problem(name) != nullptr) {
    return std::nullopt;
  }
  return ResourceKey{std::string(kind), ns == kClusterScope ? std::string() : std::string(ns),
                     std::string(name)};
}

std::string KeyLayout::prefix_range_end(std::string_view start) {
  std::string end(start);
  // Drop trailing 0xff bytes and increment the last byte that can be incremented.
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) {
    end.pop_back();
  }
  if (end.empty()) {
    return std::string(1, '\0');  // etcd: "\0" = every key >= start
  }
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace brindle::etcd
