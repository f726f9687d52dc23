// Internal: the generic bodies of spec_from_json / spec_to_json (declared in kinds.hpp). Only the
// kinds_*.cpp files include this; each instantiates them for its specs after defining their fields,
// so no other file instantiates them implicitly.
#pragma once

#include "codec.hpp"

namespace brindle::model {

// The generic bodies of the spec codec declared in kinds.hpp; each kinds_*.cpp instantiates them
// for its specs (after defining their fields).
template <typename Spec>
Spec spec_from_json(const nlohmann::json& spec, const std::string& path) {
  Spec out;
  decode_value(spec, path, out, kNoFlags);
  return out;
}

template <typename Spec>
nlohmann::json spec_to_json(const Spec& spec) {
  return encode_value(spec);
}

#define BRINDLE_INSTANTIATE_SPEC_CODEC(Spec)                                               \
  template Spec spec_from_json<Spec>(const nlohmann::json& spec, const std::string& path); \
  template nlohmann::json spec_to_json<Spec>(const Spec& spec)

}  // namespace brindle::model
