#include "brindle/common/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace brindle::metrics {
namespace {

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || !is_name_start(name[0]) || name.starts_with("__")) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), is_name_char);
}

std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

bool valid_metric_name(std::string_view name) {
  if (name.empty() || !(is_name_start(name[0]) || name[0] == ':')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) { return is_name_char(c) || c == ':'; });
}

std::optional<std::string> canonical_labels(std::string_view labels) {
  // name="value" pairs separated by commas; values use \\, \" and \n escapes.
  std::vector<std::pair<std::string, std::string>> pairs;  // name, escaped value
  std::size_t pos = 0;
  auto skip_spaces = [&] {
    while (pos < labels.size() && (labels[pos] == ' ' || labels[pos] == '\t')) {
      ++pos;
    }
  };
  skip_spaces();
  while (pos < labels.size()) {
    const std::size_t name_start = pos;
    while (pos < labels.size() && is_name_char(labels[pos])) {
      ++pos;
    }
    std::string name(labels.substr(name_start, pos - name_start));
    if (!valid_label_name(name)) {
      return std::nullopt;
    }
    skip_spaces();
    if (pos >= labels.size() || labels[pos] != '=') {
      return std::nullopt;
    }
    ++pos;
    skip_spaces();
    if (pos >= labels.size() || labels[pos] != '"') {
      return std::nullopt;
    }
    ++pos;
    std::string value;
    bool closed = false;
    while (pos < labels.size()) {
      const char c = labels[pos++];
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\\') {
        if (pos >= labels.size()) {
          return std::nullopt;
        }
        const char escaped = labels[pos++];
        if (escaped != '\\' && escaped != '"' && escaped != 'n') {
          return std::nullopt;
        }
        value += '\\';
        value += escaped;
      } else if (c == '\n' || c == '\r' || c == '\0') {
        return std::nullopt;
      } else {
        value += c;
      }
    }
    if (!closed) {
      return std::nullopt;
    }
    pairs.emplace_back(std::move(name), std::move(value));
    skip_spaces();
    if (pos < labels.size()) {
      if (labels[pos] != ',') {
        return std::nullopt;
      }
      ++pos;
      skip_spaces();
    }
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) {
      if (pairs[i].first == pairs[i - 1].first) {
        return std::nullopt;
      }
      out += ',';
    }
    out += pairs[i].first;
    out += "=\"";
    out += pairs[i].second;
    out += '"';
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  char buffer[64];
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  }
  return buffer;
}

uint32_t Registry::register_metric(Type type, std::string_view name, std::string_view help) {
  if (!valid_metric_name(name)) {
    return kInvalid;
  }
  std::lock_guard lock(mutex_);
  if (const auto it = by_name_.find(std::string(name)); it != by_name_.end()) {
    return families_[it->second - 1].type == type ? it->second : kInvalid;
  }
  families_.push_back(Family{std::string(name), std::string(help), type, {}});
  const auto id = static_cast<uint32_t>(families_.size());
  by_name_.emplace(std::string(name), id);
  return id;
}

Registry::Family* Registry::family_locked(uint32_t id) {
  if (id == kInvalid || id > families_.size()) {
    return nullptr;
  }
  return &families_[id - 1];
}

bool Registry::add(uint32_t id, std::string_view labels, double delta) {
  auto canonical = canonical_labels(labels);
  if (!canonical) {
    return false;
  }
  std::lock_guard lock(mutex_);
  Family* family = family_locked(id);
  if (family == nullptr) {
    return false;
  }
  if (family->type == Type::counter && !(delta >= 0 && std::isfinite(delta))) {
    return false;
  }
  family->series[*canonical] += delta;
  return true;
}

bool Registry::set(uint32_t id, std::string_view labels, double value) {
  auto canonical = canonical_labels(labels);
  if (!canonical) {
    return false;
  }
  std::lock_guard lock(mutex_);
  Family* family = family_locked(id);
  if (family == nullptr || family->type != Type::gauge) {
    return false;
  }
  family->series[*canonical] = value;
  return true;
}

std::optional<double> Registry::value(std::string_view name, std::string_view labels) const {
  auto canonical = canonical_labels(labels);
  if (!canonical) {
    return std::nullopt;
  }
  std::lock_guard lock(mutex_);
  const auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) {
    return std::nullopt;
  }
  const Family& family = families_[it->second - 1];
  const auto series = family.series.find(*canonical);
  if (series == family.series.end()) {
    return std::nullopt;
  }
  return series->second;
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, id] : by_name_) {  // sorted by name
    const Family& family = families_[id - 1];
    // append() chains rather than "literal" + string: g++ 12 -O2 reports a false -Wrestrict.
    out.append("# HELP ").append(family.name).append(" ").append(escape_help(family.help));
    out.append("\n# TYPE ").append(family.name);
    out.append(family.type == Type::counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, value] : family.series) {
      out += family.name;
      if (!labels.empty()) {
        out += "{" + labels + "}";
      }
      out.append(" ").append(format_value(value)).append("\n");
    }
  }
  return out;
}

}  // namespace brindle::metrics
