#include "brindle/model/selector.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace brindle::model {
namespace {

const Labels kLabels = {
    {"app", "web"},
    {"tier", "frontend"},
    {"kubernetes.io/metadata.name", "prod"},
    {"empty", ""},
};

struct EvalCase {
  const char* selector;
  bool expected;
};

class SelectorEvaluate : public ::testing::TestWithParam<EvalCase> {};

TEST_P(SelectorEvaluate, MatchesLabels) {
  const auto& c = GetParam();
  Selector s = Selector::parse(c.selector);
  EXPECT_EQ(s.matches(kLabels), c.expected) << c.selector << " -> " << s.to_string();
  // The canonical form means the same thing.
  EXPECT_EQ(Selector::parse(s.to_string()).matches(kLabels), c.expected) << s.to_string();
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorEvaluate,
    ::testing::Values(
        EvalCase{"app == \"web\"", true}, EvalCase{"app == 'web'", true},
        EvalCase{"app==\"web\"", true}, EvalCase{"app == \"db\"", false},
        EvalCase{"app != \"web\"", false}, EvalCase{"app != \"db\"", true},
        EvalCase{"missing != \"x\"", true},  // != matches an absent label
        EvalCase{"missing == \"x\"", false}, EvalCase{"app in {\"db\", \"web\"}", true},
        EvalCase{"app in {\"db\"}", false}, EvalCase{"app in {}", false},
        EvalCase{"app not in {\"web\"}", false}, EvalCase{"app not in {\"db\", 'cache'}", true},
        EvalCase{"missing not in {\"a\"}", true}, EvalCase{"missing in {\"a\"}", false},
        EvalCase{"app not in {}", true}, EvalCase{"has(app)", true}, EvalCase{"has( app )", true},
        EvalCase{"!has(app)", false}, EvalCase{"has(missing)", false},
        EvalCase{"!has(missing)", true}, EvalCase{"all()", true}, EvalCase{"all( )", true},
        EvalCase{"!all()", false}, EvalCase{"", true}, EvalCase{"  \t\n ", true},
        EvalCase{"app == \"web\" && tier == \"backend\"", false},
        EvalCase{"app == \"web\" && tier == \"frontend\"", true},
        EvalCase{"app == \"web\" || tier == \"backend\"", true},
        EvalCase{"app == \"x\" || tier == \"y\"", false}, EvalCase{"!(app == \"web\")", false},
        EvalCase{"!!has(app)", true}, EvalCase{"!(has(app) && has(missing))", true},
        // && binds tighter than ||
        EvalCase{"app == \"x\" || app == \"web\" && tier == \"frontend\"", true},
        EvalCase{"app == \"web\" || app == \"x\" && tier == \"x\"", true},
        EvalCase{"(app == \"web\" || app == \"x\") && tier == \"x\"", false},
        EvalCase{"kubernetes.io/metadata.name == \"prod\"", true},
        EvalCase{"has(kubernetes.io/metadata.name)", true}, EvalCase{"empty == \"\"", true},
        EvalCase{"has(empty)", true}, EvalCase{"empty != \"\"", false},
        EvalCase{"has == \"x\"", false},  // a label key named "has"
        EvalCase{"all in {\"x\"}", false},
        EvalCase{"app == \"web\"\n&&\ttier == \"frontend\"", true}));

struct ErrorCase {
  const char* selector;
  size_t column;
  const char* message;
};

class SelectorParseError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SelectorParseError, PointsAtTheColumn) {
  const auto& c = GetParam();
  try {
    Selector::parse(c.selector);
    FAIL() << "parsed: " << c.selector;
  } catch (const SelectorError& e) {
    EXPECT_EQ(e.column(), c.column) << c.selector << ": " << e.what();
    EXPECT_EQ(e.message(), c.message) << c.selector << ": " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorParseError,
    ::testing::Values(
        ErrorCase{"a == ", 6, "expected a quoted string"},
        ErrorCase{"a == b", 6, "expected a quoted string"},
        ErrorCase{"a = \"b\"", 3, "expected '==', '!=', 'in' or 'not in'"},
        ErrorCase{"a", 2, "expected '==', '!=', 'in' or 'not in'"},
        ErrorCase{"a == \"b", 6, "unterminated string"},
        ErrorCase{"a in {\"x\" \"y\"}", 11, "expected ',' or '}'"},
        ErrorCase{"a in {\"x\",}", 11, "expected a quoted string"},
        ErrorCase{"a in \"x\"", 6, "expected '{'"},
        ErrorCase{"a not \"x\"", 7, "expected 'in' after 'not'"},
        ErrorCase{"has(a", 6, "expected ')'"}, ErrorCase{"has()", 5, "expected a label key"},
        ErrorCase{"all(x)", 5, "expected ')' after 'all('"},
        ErrorCase{"(a == \"b\"", 10, "expected '&&', '||' or ')'"},
        ErrorCase{"a == \"b\" b == \"c\"", 10, "expected '&&', '||' or the end of the selector"},
        ErrorCase{"a == \"b\" & c == \"d\"", 10, "expected '&&', '||' or the end of the selector"},
        ErrorCase{"a == \"b\")", 9, "expected '&&', '||' or the end of the selector"},
        ErrorCase{"&& a == \"b\"", 1, "expected a label key, '!', '(', 'has(' or 'all()'"},
        ErrorCase{"a == \"b\" &&", 12, "expected a label key, '!', '(', 'has(' or 'all()'"},
        ErrorCase{"a == \"b\" || ", 13, "expected a label key, '!', '(', 'has(' or 'all()'"},
        ErrorCase{"!", 2, "expected a label key, '!', '(', 'has(' or 'all()'"},
        ErrorCase{"()", 2, "expected a label key, '!', '(', 'has(' or 'all()'"},
        ErrorCase{"a == \"b\" && #", 13, "expected a label key, '!', '(', 'has(' or 'all()'"}));

TEST(Selector, ErrorTextQuotesTheSelector) {
  try {
    Selector::parse("a == ");
    FAIL();
  } catch (const SelectorError& e) {
    EXPECT_STREQ(e.what(), "selector \"a == \": column 6: expected a quoted string");
  }
}

TEST(Selector, ErrorTextEscapesControlCharacters) {
  try {
    Selector::parse("a ==\x01");
    FAIL();
  } catch (const SelectorError& e) {
    EXPECT_STREQ(e.what(), "selector \"a ==\\x01\": column 5: expected a quoted string");
  }
}

TEST(Selector, RejectsDeepNestingWithoutRecursingForever) {
  std::string deep(2000, '(');
  deep += "a == \"b\"";
  deep += std::string(2000, ')');
  try {
    Selector::parse(deep);
    FAIL();
  } catch (const SelectorError& e) {
    EXPECT_EQ(e.message(), "the selector nests too deeply");
  }
  std::string bangs(5000, '!');
  EXPECT_THROW(Selector::parse(bangs + "has(a)"), SelectorError);
  // Moderate nesting is fine.
  std::string ok = std::string(40, '(') + "a == \"b\"" + std::string(40, ')');
  EXPECT_EQ(Selector::parse(ok).to_string(), "a == \"b\"");
}

TEST(Selector, RejectsOverlongInput) {
  std::string text = "a in {";
  while (text.size() <= Selector::kMaxLength)
    text += "\"v\", ";
  text += "\"v\"}";
  EXPECT_THROW(Selector::parse(text), SelectorError);
}

struct CanonicalCase {
  const char* input;
  const char* canonical;
};

class SelectorCanonical : public ::testing::TestWithParam<CanonicalCase> {};

TEST_P(SelectorCanonical, PrintsCanonically) {
  const auto& c = GetParam();
  Selector s = Selector::parse(c.input);
  EXPECT_EQ(s.to_string(), c.canonical) << c.input;
  EXPECT_EQ(Selector::parse(s.to_string()).to_string(), s.to_string());
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorCanonical,
    ::testing::Values(
        CanonicalCase{"", "all()"}, CanonicalCase{"all()", "all()"},
        CanonicalCase{"a=='x'", "a == \"x\""},
        CanonicalCase{"b == 'y' && a == \"x\"", "a == \"x\" && b == \"y\""},
        CanonicalCase{"a in {'y','x','x'}", "a in {\"x\", \"y\"}"},
        CanonicalCase{"a in {'x'}", "a == \"x\""}, CanonicalCase{"a not in {'x'}", "a != \"x\""},
        CanonicalCase{"!(a == 'x')", "a != \"x\""}, CanonicalCase{"!(a != 'x')", "a == \"x\""},
        CanonicalCase{"!(a in {'x','y'})", "a not in {\"x\", \"y\"}"},
        CanonicalCase{"!!has(a)", "has(a)"}, CanonicalCase{"!has(a)", "!has(a)"},
        CanonicalCase{"((a == 'x'))", "a == \"x\""},
        CanonicalCase{"a == 'x' && all()", "a == \"x\""},
        CanonicalCase{"a == 'x' || all()", "all()"},
        CanonicalCase{"a == 'x' && a == 'x'", "a == \"x\""},
        CanonicalCase{"c == 'z' && (b == 'y' && a == 'x')",
                      "a == \"x\" && b == \"y\" && c == \"z\""},
        CanonicalCase{"c == 'z' && (b == 'y' || a == 'x')",
                      "(a == \"x\" || b == \"y\") && c == \"z\""},
        CanonicalCase{"c == 'z' || b == 'y' && a == 'x'", "a == \"x\" && b == \"y\" || c == \"z\""},
        CanonicalCase{"!(b == 'y' && a == 'x')", "!(a == \"x\" && b == \"y\")"},
        CanonicalCase{"a == 'say \"hi\"'", "a == 'say \"hi\"'"},
        CanonicalCase{"kubernetes.io/metadata.name in {\"b\", \"a\"}",
                      "kubernetes.io/metadata.name in {\"a\", \"b\"}"},
        CanonicalCase{"a in {}", "a in {}"}));

TEST(Selector, EquivalentSpellingsCompareEqual) {
  const std::vector<std::pair<const char*, const char*>> equal = {
      {"a==\"x\"&&b==\"y\"", "b == 'y' && a == \"x\""},
      {"a in {\"y\",\"x\"}", "a in {'x', 'y'}"},
      {"a in {\"x\"}", "a == \"x\""},
      {"!(a == \"x\")", "a != \"x\""},
      {"", "all()"},
      {"(a == 'x' || b == 'y') && c == 'z'", "c == 'z' && (b == 'y' || a == 'x')"},
  };
  for (const auto& [a, b] : equal)
    EXPECT_EQ(Selector::parse(a), Selector::parse(b)) << a << " vs " << b;
  EXPECT_NE(Selector::parse("a == 'x'"), Selector::parse("a == 'y'"));
  EXPECT_NE(Selector::parse("a == 'x' || b == 'y'"), Selector::parse("a == 'x' && b == 'y'"));
  EXPECT_NE(Selector::parse("has(a)"), Selector::parse("!has(a)"));
}

TEST(Selector, DefaultIsAll) {
  Selector s;
  EXPECT_TRUE(s.is_all());
  EXPECT_EQ(s.to_string(), "all()");
  EXPECT_TRUE(s.matches(Labels{}));
  EXPECT_FALSE(Selector::parse("has(a)").is_all());
}

TEST(Selector, LabelKeys) {
  Selector s = Selector::parse("b == 'x' && (has(a) || c not in {'q'}) && b != 'y'");
  EXPECT_EQ(s.label_keys(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(Selector::all().label_keys().empty());
}

TEST(Selector, EvaluatesAgainstALabelSource) {
  // Endpoint labels layered over namespace labels, without copying either map.
  struct Layered : LabelSource {
    const Labels& top;
    const Labels& bottom;
    Layered(const Labels& t, const Labels& b) : top(t), bottom(b) {}
    std::optional<std::string_view> get(std::string_view key) const override {
      if (auto it = top.find(key); it != top.end())
        return it->second;
      if (auto it = bottom.find(key); it != bottom.end())
        return it->second;
      return std::nullopt;
    }
  };
  Labels pod = {{"app", "web"}};
  Labels ns = {{"team", "blue"}, {"app", "ignored"}};
  Layered labels(pod, ns);
  EXPECT_TRUE(Selector::parse("app == 'web' && team == 'blue'").matches(labels));
  EXPECT_FALSE(Selector::parse("app == 'ignored'").matches(labels));
  EXPECT_FALSE(Selector::parse("has(missing)").matches(labels));
}

TEST(Selector, FromLabelSelector) {
  EXPECT_EQ(Selector::from_label_selector({}).to_string(), "all()");

  LabelSelector labels;
  labels.match_labels = {{"tier", "fe"}, {"app", "web"}};
  Selector s = Selector::from_label_selector(labels);
  EXPECT_EQ(s.to_string(), "app == \"web\" && tier == \"fe\"");
  EXPECT_EQ(s, Selector::parse("tier == 'fe' && app == 'web'"));

  LabelSelector expressions;
  expressions.match_expressions = {
      {"env", "In", {"prod", "dev"}},
      {"zone", "NotIn", {"a"}},
      {"gpu", "Exists", {}},
      {"legacy", "DoesNotExist", {}},
  };
  Selector e = Selector::from_label_selector(expressions);
  EXPECT_EQ(e.to_string(),
            "!has(legacy) && env in {\"dev\", \"prod\"} && has(gpu) && zone != \"a\"");
  EXPECT_EQ(e, Selector::parse("env in {'prod','dev'} && zone not in {'a'} && has(gpu) && "
                               "!has(legacy)"));
  // Kubernetes semantics: NotIn also matches when the label is absent.
  EXPECT_TRUE(e.matches(Labels{{"env", "prod"}, {"gpu", "1"}}));
  EXPECT_FALSE(e.matches(Labels{{"env", "prod"}, {"gpu", "1"}, {"zone", "a"}}));
  EXPECT_FALSE(e.matches(Labels{{"env", "prod"}, {"gpu", "1"}, {"legacy", "yes"}}));
  EXPECT_FALSE(e.matches(Labels{{"env", "test"}, {"gpu", "1"}}));
  EXPECT_FALSE(e.matches(Labels{{"env", "prod"}}));

  LabelSelector both;
  both.match_labels = {{"app", "web"}};
  both.match_expressions = {{"app", "In", {"web"}}};
  EXPECT_EQ(Selector::from_label_selector(both).to_string(), "app == \"web\"");
}

TEST(Selector, FromLabelSelectorRejectsBadRequirements) {
  LabelSelector no_values;
  no_values.match_expressions = {{"a", "In", {}}};
  EXPECT_THROW(Selector::from_label_selector(no_values), std::invalid_argument);
  LabelSelector exists_with_values;
  exists_with_values.match_expressions = {{"a", "Exists", {"x"}}};
  EXPECT_THROW(Selector::from_label_selector(exists_with_values), std::invalid_argument);
  LabelSelector unknown;
  unknown.match_expressions = {{"a", "Equals", {"x"}}};
  try {
    Selector::from_label_selector(unknown);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "matchExpressions[0]: unknown operator \"Equals\" (expected In, NotIn, Exists "
                 "or DoesNotExist)");
  }
}

// Random selectors: the canonical text re-parses to itself and means the same thing.
std::string random_selector(std::mt19937& rng, int depth) {
  const char* keys[] = {"a", "b", "c"};
  const char* values[] = {"x", "y", "z"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto key = [&] { return std::string(keys[pick(3)]); };
  auto quoted = [&] {
    std::string q = pick(2) ? "\"" : "'";
    return q + values[pick(3)] + q;
  };
  int choice = depth > 3 ? pick(6) : pick(10);
  switch (choice) {
    case 0:
      return key() + " == " + quoted();
    case 1:
      return key() + " != " + quoted();
    case 2:
      return key() + " in {" + quoted() + ", " + quoted() + "}";
    case 3:
      return key() + " not in {" + quoted() + "}";
    case 4:
      return "has(" + key() + ")";
    case 5:
      return pick(4) == 0 ? "all()" : "!has(" + key() + ")";
    case 6:
    case 7:
      return "(" + random_selector(rng, depth + 1) + " && " + random_selector(rng, depth + 1) + ")";
    case 8:
      return "(" + random_selector(rng, depth + 1) + " || " + random_selector(rng, depth + 1) + ")";
    default:
      return "!(" + random_selector(rng, depth + 1) + ")";
  }
}

TEST(Selector, RandomSelectorsKeepTheirMeaningInCanonicalForm) {
  std::mt19937 rng(12345);
  std::vector<Labels> label_sets;
  const char* values[] = {"x", "y", "z"};
  for (int a = 0; a < 4; ++a) {
    for (int b = 0; b < 4; ++b) {
      for (int c = 0; c < 4; ++c) {
        Labels l;
        if (a < 3)
          l["a"] = values[a];
        if (b < 3)
          l["b"] = values[b];
        if (c < 3)
          l["c"] = values[c];
        label_sets.push_back(l);
      }
    }
  }
  for (int i = 0; i < 500; ++i) {
    std::string text = random_selector(rng, 0);
    Selector s = Selector::parse(text);
    Selector again = Selector::parse(s.to_string());
    ASSERT_EQ(again.to_string(), s.to_string()) << text;
    for (const auto& labels : label_sets) {
      ASSERT_EQ(s.matches(labels), again.matches(labels)) << text << " vs " << s.to_string();
    }
  }
}

}  // namespace
}  // namespace brindle::model
