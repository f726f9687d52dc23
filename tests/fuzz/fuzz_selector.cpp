// libFuzzer entry for the selector parser. Any input must either parse or throw SelectorError with
// a column inside the input (or one past it); a parsed selector's canonical text must re-parse to
// itself and mean the same thing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "brindle/model/selector.hpp"

namespace {

using brindle::model::Labels;
using brindle::model::Selector;
using brindle::model::SelectorError;

[[noreturn]] void fail() {
  std::abort();
}

// A few label sets built from the selector's own keys, so that evaluation takes both branches.
std::vector<Labels> label_sets(const Selector& s, std::string_view data) {
  std::vector<Labels> sets(3);
  size_t i = 0;
  for (const auto& key : s.label_keys()) {
    sets[1][key] = "";
    sets[2][key] = std::string(data.substr(0, i % (data.size() + 1)));
    ++i;
  }
  return sets;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    Selector s = Selector::parse(text);
    // Canonical text can be a little longer than the input (spaces after commas).
    if (s.to_string().size() > Selector::kMaxLength)
      return 0;
    Selector again = Selector::parse(s.to_string());
    if (again.to_string() != s.to_string())
      fail();
    for (const auto& labels : label_sets(s, text)) {
      if (s.matches(labels) != again.matches(labels))
        fail();
    }
  } catch (const SelectorError& e) {
    if (e.column() < 1 || e.column() > size + 1)
      fail();
    if (e.message().empty())
      fail();
  }
  return 0;
}
