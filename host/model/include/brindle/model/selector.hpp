// The label selector language used by policies, pools and BGP peers:
//   key == "v"   key != "v"   key in {"a", "b"}   key not in {"a"}   has(key)   !has(key)
//   a && b   a || b   !a   (a)   all()        (an empty selector means all())
// Semantics follow Calico: `!=` and `not in` also match when the label is absent; `in {}` matches
// nothing. Selectors are parsed once into an immutable tree; to_string() gives a canonical text
// so that equivalent spellings (quotes, spacing, operand order, set order) compare equal.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace brindle::model {

using Labels = std::map<std::string, std::string, std::less<>>;

// Where a selector reads labels from; lets callers layer label sources without copying.
class LabelSource {
 public:
  virtual ~LabelSource() = default;
  virtual std::optional<std::string_view> get(std::string_view key) const = 0;
};

class SelectorError : public std::invalid_argument {
 public:
  // message is e.g. `expected a quoted string`; what() is
  // `selector "a == ": column 6: expected a quoted string`.
  SelectorError(std::string_view selector, size_t column, std::string message);
  size_t column() const { return column_; }  // 1-based; one past the end for "end of input"
  const std::string& message() const { return message_; }

 private:
  size_t column_;
  std::string message_;
};

// Kubernetes metav1.LabelSelector.
struct LabelSelectorRequirement {
  std::string key;
  std::string op;  // "In", "NotIn", "Exists", "DoesNotExist"
  std::vector<std::string> values;
  bool operator==(const LabelSelectorRequirement&) const = default;
};

struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;
  bool operator==(const LabelSelector&) const = default;
};

class Selector {
 public:
  struct Node;  // the expression tree; see selector.cpp

  Selector();  // all()

  // Throws SelectorError. Inputs longer than kMaxLength or nested deeper than kMaxDepth are
  // rejected with an error rather than risking the stack.
  static Selector parse(std::string_view text);
  static Selector all() { return Selector(); }
  // Throws std::invalid_argument for an unknown operator or values that do not fit it.
  static Selector from_label_selector(const LabelSelector& selector);

  bool matches(const Labels& labels) const;
  bool matches(const LabelSource& labels) const;

  // Canonical text; parse(s.to_string()) == s.
  const std::string& to_string() const { return canonical_; }
  bool is_all() const;

  // Label keys the selector reads (sorted, unique); lets callers index endpoints by key.
  std::vector<std::string> label_keys() const;

  friend bool operator==(const Selector& a, const Selector& b) {
    return a.canonical_ == b.canonical_;
  }
  friend bool operator<(const Selector& a, const Selector& b) {
    return a.canonical_ < b.canonical_;
  }

  static constexpr size_t kMaxLength = size_t{64} * 1024;
  static constexpr int kMaxDepth = 256;  // grammar levels; about 60 parentheses

 private:
  explicit Selector(std::shared_ptr<const Node> root);
  std::shared_ptr<const Node> root_;
  std::string canonical_;
};

}  // namespace brindle::model
