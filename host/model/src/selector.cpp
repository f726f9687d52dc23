#include "brindle/model/selector.hpp"

#include <algorithm>
#include <set>
#include <utility>

namespace brindle::model {

struct Selector::Node {
  enum class Op { kAll, kHas, kEq, kNe, kIn, kNotIn, kNot, kAnd, kOr };
  Op op = Op::kAll;
  std::string key;
  std::vector<std::string> values;                    // kEq/kNe: one; kIn/kNotIn: sorted, unique
  std::vector<std::shared_ptr<const Node>> children;  // kNot: one; kAnd/kOr: two or more
  std::string canonical;
};

namespace {

using Node = Selector::Node;
using NodePtr = std::shared_ptr<const Node>;
using Op = Node::Op;

// Shows a selector inside an error message: control characters escaped, very long text cut.
std::string quote_for_message(std::string_view text) {
  constexpr size_t kShown = 200;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kShown; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    } else if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > kShown) {
    out += "...";
  }
  out += "\"";
  return out;
}

std::string quote_value(const std::string& value) {
  // Values cannot contain both quote characters (the language has no escapes).
  char q = value.find('"') == std::string::npos ? '"' : '\'';
  return std::string(1, q) + value + std::string(1, q);
}

std::string wrap_if_compound(const Node& n) {
  if (n.op == Op::kAnd || n.op == Op::kOr) {
    return "(" + n.canonical + ")";
  }
  return n.canonical;
}

std::string render(const Node& n) {
  switch (n.op) {
    case Op::kAll:
      return "all()";
    case Op::kHas:
      return "has(" + n.key + ")";
    case Op::kEq:
      return n.key + " == " + quote_value(n.values[0]);
    case Op::kNe:
      return n.key + " != " + quote_value(n.values[0]);
    case Op::kIn:
    case Op::kNotIn: {
      std::string out = n.key + (n.op == Op::kIn ? " in {" : " not in {");
      for (size_t i = 0; i < n.values.size(); ++i) {
        if (i > 0) {
          out += ", ";
        }
        out += quote_value(n.values[i]);
      }
      return out + "}";
    }
    case Op::kNot:
      return "!" + wrap_if_compound(*n.children[0]);
    case Op::kAnd:
    case Op::kOr: {
      std::string out;
      for (size_t i = 0; i < n.children.size(); ++i) {
        if (i > 0) {
          out += n.op == Op::kAnd ? " && " : " || ";
        }
        // && binds tighter than ||, so only an || inside an && needs parentheses.
        out += n.op == Op::kAnd && n.children[i]->op == Op::kOr
                   ? "(" + n.children[i]->canonical + ")"
                   : n.children[i]->canonical;
      }
      return out;
    }
  }
  return {};
}

NodePtr finish(Node n) {
  n.canonical = render(n);
  return std::make_shared<const Node>(std::move(n));
}

NodePtr make_all() {
  return finish(Node{});
}

NodePtr make_has(std::string key) {
  Node n;
  n.op = Op::kHas;
  n.key = std::move(key);
  return finish(std::move(n));
}

NodePtr make_compare(std::string key, std::string value, bool equal) {
  Node n;
  n.op = equal ? Op::kEq : Op::kNe;
  n.key = std::move(key);
  n.values.push_back(std::move(value));
  return finish(std::move(n));
}

NodePtr make_set(std::string key, std::vector<std::string> values, bool negated) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  // `k in {"v"}` means exactly `k == "v"` (and `not in` means `!=`): print them the same.
  if (values.size() == 1) {
    return make_compare(std::move(key), std::move(values[0]), !negated);
  }
  Node n;
  n.op = negated ? Op::kNotIn : Op::kIn;
  n.key = std::move(key);
  n.values = std::move(values);
  return finish(std::move(n));
}

NodePtr make_not(const NodePtr& child) {
  switch (child->op) {
    case Op::kNot:
      return child->children[0];
    case Op::kEq:
    case Op::kNe:
      return make_compare(child->key, child->values[0], child->op == Op::kNe);
    case Op::kIn:
    case Op::kNotIn:
      return make_set(child->key, child->values, child->op == Op::kIn);
    default: {
      Node n;
      n.op = Op::kNot;
      n.children.push_back(child);
      return finish(std::move(n));
    }
  }
}

// && and || are associative, commutative and idempotent: flatten, sort and de-duplicate operands.
NodePtr make_junction(Op op, const std::vector<NodePtr>& operands) {
  std::vector<NodePtr> flat;
  for (const auto& operand : operands) {
    if (operand->op == op) {
      flat.insert(flat.end(), operand->children.begin(), operand->children.end());
    } else if (operand->op == Op::kAll) {
      if (op == Op::kOr) {
        return operand;  // x || all() == all()
      }
      // x && all() == x: drop it.
    } else {
      flat.push_back(operand);
    }
  }
  std::sort(flat.begin(), flat.end(),
            [](const NodePtr& a, const NodePtr& b) { return a->canonical < b->canonical; });
  flat.erase(
      std::unique(flat.begin(), flat.end(),
                  [](const NodePtr& a, const NodePtr& b) { return a->canonical == b->canonical; }),
      flat.end());
  if (flat.empty()) {
    return make_all();
  }
  if (flat.size() == 1) {
    return flat[0];
  }
  Node n;
  n.op = op;
  n.children = std::move(flat);
  return finish(std::move(n));
}

template <typename Lookup>
bool evaluate(const Node& n, const Lookup& lookup) {
  switch (n.op) {
    case Op::kAll:
      return true;
    case Op::kHas:
      return lookup(n.key).has_value();
    case Op::kEq: {
      auto v = lookup(n.key);
      return v && *v == n.values[0];
    }
    case Op::kNe: {
      auto v = lookup(n.key);
      return !v || *v != n.values[0];
    }
    case Op::kIn:
    case Op::kNotIn: {
      auto v = lookup(n.key);
      bool in =
          v && std::binary_search(n.values.begin(), n.values.end(), *v,
                                  [](std::string_view a, std::string_view b) { return a < b; });
      return n.op == Op::kIn ? in : !in;
    }
    case Op::kNot:
      return !evaluate(*n.children[0], lookup);
    case Op::kAnd:
      return std::all_of(n.children.begin(), n.children.end(),
                         [&](const NodePtr& c) { return evaluate(*c, lookup); });
    case Op::kOr:
      return std::any_of(n.children.begin(), n.children.end(),
                         [&](const NodePtr& c) { return evaluate(*c, lookup); });
  }
  return false;
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '/';
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  NodePtr parse() {
    skip_space();
    if (at_end()) {
      return make_all();
    }
    NodePtr root = parse_or(0);
    skip_space();
    if (!at_end()) {
      fail("expected '&&', '||' or the end of the selector");
    }
    return root;
  }

 private:
  [[noreturn]] void fail(std::string message) const { fail_at(pos_, std::move(message)); }
  [[noreturn]] void fail_at(size_t pos, std::string message) const {
    throw SelectorError(text_, pos + 1, std::move(message));
  }

  bool at_end() const { return pos_ >= text_.size(); }
  void skip_space() {
    while (!at_end() && is_space(text_[pos_])) {
      ++pos_;
    }
  }
  bool accept(std::string_view token) {
    skip_space();
    if (text_.substr(pos_, token.size()) == token) {
      pos_ += token.size();
      return true;
    }
    return false;
  }
  void expect(std::string_view token, const char* message) {
    if (!accept(token)) {
      fail(message);
    }
  }
  void enter(int depth) const {
    if (depth > Selector::kMaxDepth) {
      fail("the selector nests too deeply");
    }
  }

  NodePtr parse_or(int depth) {
    enter(depth);
    std::vector<NodePtr> operands{parse_and(depth + 1)};
    while (accept("||")) {
      operands.push_back(parse_and(depth + 1));
    }
    return operands.size() == 1 ? operands[0] : make_junction(Op::kOr, operands);
  }

  NodePtr parse_and(int depth) {
    enter(depth);
    std::vector<NodePtr> operands{parse_unary(depth + 1)};
    while (accept("&&")) {
      operands.push_back(parse_unary(depth + 1));
    }
    return operands.size() == 1 ? operands[0] : make_junction(Op::kAnd, operands);
  }

  NodePtr parse_unary(int depth) {
    enter(depth);
    skip_space();
    // "!=" cannot start an expression, so a "!" here is always negation.
    if (accept("!")) {
      return make_not(parse_unary(depth + 1));
    }
    return parse_primary(depth + 1);
  }

  // An identifier directly followed (after optional spaces) by "(" is a function call.
  bool at_function(std::string_view name) {
    skip_space();
    if (text_.substr(pos_, name.size()) != name) {
      return false;
    }
    size_t p = pos_ + name.size();
    if (p < text_.size() && is_key_char(text_[p])) {
      return false;
    }
    while (p < text_.size() && is_space(text_[p])) {
      ++p;
    }
    if (p >= text_.size() || text_[p] != '(') {
      return false;
    }
    pos_ = p + 1;
    return true;
  }

  NodePtr parse_primary(int depth) {
    skip_space();
    if (accept("(")) {
      NodePtr inner = parse_or(depth + 1);
      skip_space();
      if (!accept(")")) {
        fail("expected '&&', '||' or ')'");
      }
      return inner;
    }
    if (at_function("all")) {
      expect(")", "expected ')' after 'all('");
      return make_all();
    }
    if (at_function("has")) {
      skip_space();
      std::string key = parse_key("expected a label key");
      expect(")", "expected ')'");
      return make_has(std::move(key));
    }
    std::string key = parse_key("expected a label key, '!', '(', 'has(' or 'all()'");
    skip_space();
    if (accept("==")) {
      return make_compare(std::move(key), parse_string(), true);
    }
    if (accept("!=")) {
      return make_compare(std::move(key), parse_string(), false);
    }
    if (accept_word("in")) {
      return make_set(std::move(key), parse_set(), false);
    }
    if (accept_word("not")) {
      if (!accept_word("in")) {
        fail("expected 'in' after 'not'");
      }
      return make_set(std::move(key), parse_set(), true);
    }
    fail("expected '==', '!=', 'in' or 'not in'");
  }

  bool accept_word(std::string_view word) {
    skip_space();
    if (text_.substr(pos_, word.size()) != word) {
      return false;
    }
    size_t p = pos_ + word.size();
    if (p < text_.size() && is_key_char(text_[p])) {
      return false;
    }
    pos_ = p;
    return true;
  }

  std::string parse_key(const char* message) {
    skip_space();
    size_t start = pos_;
    while (!at_end() && is_key_char(text_[pos_])) {
      ++pos_;
    }
    if (pos_ == start) {
      fail(message);
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string parse_string() {
    skip_space();
    if (at_end() || (text_[pos_] != '"' && text_[pos_] != '\'')) {
      fail("expected a quoted string");
    }
    char quote = text_[pos_];
    size_t start = pos_;
    size_t close = text_.find(quote, pos_ + 1);
    if (close == std::string_view::npos) {
      fail_at(start, "unterminated string");
    }
    pos_ = close + 1;
    return std::string(text_.substr(start + 1, close - start - 1));
  }

  std::vector<std::string> parse_set() {
    expect("{", "expected '{'");
    std::vector<std::string> values;
    skip_space();
    if (accept("}")) {
      return values;
    }
    for (;;) {
      values.push_back(parse_string());
      if (accept("}")) {
        return values;
      }
      if (!accept(",")) {
        fail("expected ',' or '}'");
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

void collect_keys(const Node& n, std::set<std::string>& keys) {
  if (!n.key.empty()) {
    keys.insert(n.key);
  }
  for (const auto& c : n.children) {
    collect_keys(*c, keys);
  }
}

}  // namespace

SelectorError::SelectorError(std::string_view selector, size_t column, std::string message)
    : std::invalid_argument("selector " + quote_for_message(selector) + ": column " +
                            std::to_string(column) + ": " + message),
      column_(column),
      message_(std::move(message)) {}

Selector::Selector() : Selector(make_all()) {}

Selector::Selector(std::shared_ptr<const Node> root)
    : root_(std::move(root)), canonical_(root_->canonical) {}

Selector Selector::parse(std::string_view text) {
  if (text.size() > kMaxLength) {
    throw SelectorError(
        text, kMaxLength + 1,
        "the selector is longer than " + std::to_string(kMaxLength) + " characters");
  }
  return Selector(Parser(text).parse());
}

Selector Selector::from_label_selector(const LabelSelector& selector) {
  std::vector<NodePtr> operands;
  for (const auto& [key, value] : selector.match_labels) {
    operands.push_back(make_compare(key, value, true));
  }
  for (size_t i = 0; i < selector.match_expressions.size(); ++i) {
    const auto& req = selector.match_expressions[i];
    const std::string where = "matchExpressions[" + std::to_string(i) + "]";
    if (req.op == "In" || req.op == "NotIn") {
      if (req.values.empty()) {
        throw std::invalid_argument(where + ": operator " + req.op + " needs at least one value");
      }
      operands.push_back(make_set(req.key, req.values, req.op == "NotIn"));
    } else if (req.op == "Exists" || req.op == "DoesNotExist") {
      if (!req.values.empty()) {
        throw std::invalid_argument(where + ": operator " + req.op + " takes no values");
      }
      NodePtr has = make_has(req.key);
      operands.push_back(req.op == "Exists" ? has : make_not(has));
    } else {
      throw std::invalid_argument(where + ": unknown operator \"" + req.op +
                                  "\" (expected In, NotIn, Exists or DoesNotExist)");
    }
  }
  return Selector(make_junction(Op::kAnd, operands));
}

bool Selector::matches(const Labels& labels) const {
  return evaluate(*root_, [&](const std::string& key) -> std::optional<std::string_view> {
    auto it = labels.find(key);
    if (it == labels.end()) {
      return std::nullopt;
    }
    return std::string_view(it->second);
  });
}

bool Selector::matches(const LabelSource& labels) const {
  return evaluate(*root_, [&](const std::string& key) { return labels.get(key); });
}

bool Selector::is_all() const {
  return root_->op == Op::kAll;
}

std::vector<std::string> Selector::label_keys() const {
  std::set<std::string> keys;
  collect_keys(*root_, keys);
  return {keys.begin(), keys.end()};
}

}  // namespace brindle::model
