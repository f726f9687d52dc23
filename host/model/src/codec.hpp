// Internal: strict JSON <-> struct conversion driven by one field list per struct.
//
// Each struct lists its fields once:
//   BRINDLE_FIELDS(IPPoolSpec) { v("cidr", s.cidr, kRequired); v("blockSize", s.block_size); ... }
// and the same list drives decoding (unknown keys are errors, types are checked, paths are
// reported) and encoding (optional fields only when set, empty lists/strings/objects omitted).
//
// All overloads live in namespace brindle::model so that argument-dependent lookup finds the
// per-struct `fields` functions when the templates below are instantiated. Each .cpp file must
// define the `fields` of its structs before it instantiates anything that uses them.
#pragma once

#include <array>
#include <concepts>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "brindle/model/errors.hpp"
#include "brindle/model/ip.hpp"
#include "brindle/model/kinds.hpp"
#include "brindle/model/selector.hpp"

namespace brindle::model {

using json = nlohmann::json;

enum FieldFlags : unsigned {
  kNoFlags = 0,
  kRequired = 1,     // absent or null -> "is required"
  kKeep = 2,         // encode even when empty ({} has a meaning, e.g. podSelector)
  kBareAddress = 4,  // an IpPrefix that may be written as a bare address (-> /32, /128)
};

#define BRINDLE_FIELDS(Type)                          \
  template <class S, class V>                         \
  requires std::same_as<std::remove_const_t<S>, Type> \
  void fields(S& s, V& v)

// Names of enum values, by specialisation: static constexpr std::array<std::pair<E, ...>> kNames.
template <class E>
struct EnumNames;

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires {
  EnumNames<E>::kNames;
};

template <class E>
requires NamedEnum<E> std::string_view enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::kNames) {
    if (v == value) {
      return name;
    }
  }
  return "?";
}

template <>
struct EnumNames<EncapsulationMode> {
  static constexpr std::array<std::pair<EncapsulationMode, std::string_view>, 3> kNames{{
      {EncapsulationMode::kNever, "Never"},
      {EncapsulationMode::kAlways, "Always"},
      {EncapsulationMode::kCrossSubnet, "CrossSubnet"},
  }};
};
template <>
struct EnumNames<AllowedUse> {
  static constexpr std::array<std::pair<AllowedUse, std::string_view>, 2> kNames{{
      {AllowedUse::kWorkload, "Workload"},
      {AllowedUse::kTunnel, "Tunnel"},
  }};
};
template <>
struct EnumNames<AffinityState> {
  static constexpr std::array<std::pair<AffinityState, std::string_view>, 3> kNames{{
      {AffinityState::kPending, "pending"},
      {AffinityState::kConfirmed, "confirmed"},
      {AffinityState::kPendingDeletion, "pendingDeletion"},
  }};
};
template <>
struct EnumNames<PortProtocol> {
  static constexpr std::array<std::pair<PortProtocol, std::string_view>, 3> kNames{{
      {PortProtocol::kTCP, "TCP"},
      {PortProtocol::kUDP, "UDP"},
      {PortProtocol::kSCTP, "SCTP"},
  }};
};
template <>
struct EnumNames<PolicyType> {
  static constexpr std::array<std::pair<PolicyType, std::string_view>, 2> kNames{{
      {PolicyType::kIngress, "Ingress"},
      {PolicyType::kEgress, "Egress"},
  }};
};
template <>
struct EnumNames<RuleAction> {
  static constexpr std::array<std::pair<RuleAction, std::string_view>, 4> kNames{{
      {RuleAction::kAllow, "Allow"},
      {RuleAction::kDeny, "Deny"},
      {RuleAction::kPass, "Pass"},
      {RuleAction::kLog, "Log"},
  }};
};
template <>
struct EnumNames<LogLevel> {
  static constexpr std::array<std::pair<LogLevel, std::string_view>, 5> kNames{{
      {LogLevel::kTrace, "trace"},
      {LogLevel::kDebug, "debug"},
      {LogLevel::kInfo, "info"},
      {LogLevel::kWarn, "warn"},
      {LogLevel::kError, "error"},
  }};
};

// "a string", "the number 3", ... for messages.
std::string describe_json(const json& j);
[[noreturn]] void throw_type_error(const std::string& path, std::string_view expected,
                                   const json& got);
std::string join_names(const std::vector<std::string_view>& names, std::string_view last_sep);
[[noreturn]] void throw_enum_error(const std::string& path,
                                   const std::vector<std::string_view>& names, const json& got);

// ---- decoding ------------------------------------------------------------------------------

void decode_value(const json& j, const std::string& path, std::string& out, unsigned flags);
void decode_value(const json& j, const std::string& path, bool& out, unsigned flags);
void decode_value(const json& j, const std::string& path, double& out, unsigned flags);
void decode_value(const json& j, const std::string& path, IpPrefix& out, unsigned flags);
void decode_value(const json& j, const std::string& path, IpAddress& out, unsigned flags);
void decode_value(const json& j, const std::string& path, MacAddress& out, unsigned flags);
void decode_value(const json& j, const std::string& path, Duration& out, unsigned flags);
void decode_value(const json& j, const std::string& path, IntOrString& out, unsigned flags);
void decode_value(const json& j, const std::string& path, RuleProtocol& out, unsigned flags);
void decode_value(const json& j, const std::string& path, RulePort& out, unsigned flags);
void decode_value(const json& j, const std::string& path, PeerAddress& out, unsigned flags);

int64_t decode_integer(const json& j, const std::string& path, int64_t min, int64_t max);

template <std::integral T>
requires(!std::same_as<T, bool>) void decode_value(const json& j, const std::string& path, T& out,
                                                   unsigned /*flags*/) {
  out = static_cast<T>(decode_integer(j, path, static_cast<int64_t>(std::numeric_limits<T>::min()),
                                      static_cast<int64_t>(std::numeric_limits<T>::max())));
}

template <class E>
requires NamedEnum<E>
void decode_value(const json& j, const std::string& path, E& out, unsigned /*flags*/) {
  std::vector<std::string_view> names;
  for (const auto& [v, name] : EnumNames<E>::kNames) {
    if (j.is_string() && j.get_ref<const std::string&>() == name) {
      out = v;
      return;
    }
    names.push_back(name);
  }
  throw_enum_error(path, names, j);
}

template <class T>
void decode_value(const json& j, const std::string& path, std::optional<T>& out, unsigned flags) {
  if (j.is_null()) {
    out.reset();
    return;
  }
  out.emplace();
  decode_value(j, path, *out, flags);
}

template <class T>
void decode_value(const json& j, const std::string& path, std::vector<T>& out, unsigned flags) {
  if (!j.is_array()) {
    throw_type_error(path, "a list", j);
  }
  out.clear();
  out.resize(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    decode_value(j[i], path_index(path, i), out[i], flags);
  }
}

template <class T, class C>
void decode_value(const json& j, const std::string& path, std::map<std::string, T, C>& out,
                  unsigned flags) {
  if (!j.is_object()) {
    throw_type_error(path, "a mapping", j);
  }
  out.clear();
  for (const auto& [key, value] : j.items()) {
    decode_value(value, path_join(path, key), out[key], flags);
  }
}

class ObjectDecoder {
 public:
  ObjectDecoder(const json& object, const std::string& path) : object_(object), path_(path) {}

  template <class T>
  void operator()(const char* key, T& member, unsigned flags = kNoFlags) {
    known_.emplace_back(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
      if (flags & kRequired) {
        throw ValidationError(path_join(path_, key), "is required");
      }
      return;
    }
    decode_value(*it, path_join(path_, key), member, flags);
  }

  // Throws for the first key that no field claimed.
  void finish() const;

 private:
  const json& object_;
  const std::string& path_;
  std::vector<std::string_view> known_;
};

template <class T>
requires requires(T& t, ObjectDecoder& d) {
  fields(t, d);
}
void decode_value(const json& j, const std::string& path, T& out, unsigned /*flags*/) {
  if (!j.is_object()) {
    throw_type_error(path, "a mapping", j);
  }
  ObjectDecoder decoder(j, path);
  fields(out, decoder);
  decoder.finish();
}

// ---- encoding ------------------------------------------------------------------------------

json encode_value(const std::string& v);
json encode_value(bool v);
json encode_value(double v);
json encode_value(const IpPrefix& v);
json encode_value(const IpAddress& v);
json encode_value(const MacAddress& v);
json encode_value(const Duration& v);
json encode_value(const IntOrString& v);
json encode_value(const RuleProtocol& v);
json encode_value(const RulePort& v);
json encode_value(const PeerAddress& v);

template <std::integral T>
requires(!std::same_as<T, bool>) json encode_value(T v) {
  return json(v);
}

template <class E>
requires NamedEnum<E> json encode_value(E v) {
  return json(std::string(enum_name(v)));
}

template <class T>
json encode_value(const std::optional<T>& v) {
  return v ? encode_value(*v) : json(nullptr);
}

template <class T>
json encode_value(const std::vector<T>& v) {
  json out = json::array();
  for (const auto& item : v) {
    out.push_back(encode_value(item));
  }
  return out;
}

template <class T, class C>
json encode_value(const std::map<std::string, T, C>& v) {
  json out = json::object();
  for (const auto& [key, value] : v) {
    out[key] = encode_value(value);
  }
  return out;
}

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

bool is_empty_json(const json& j);

class ObjectEncoder {
 public:
  explicit ObjectEncoder(json& out) : out_(out) {}

  template <class T>
  void operator()(const char* key, const T& member, unsigned flags = kNoFlags) {
    if constexpr (IsOptional<T>::value) {
      // A set optional is printed even when empty: `namespaceSelector: {}` means something.
      if (member) {
        out_[key] = encode_value(*member);
      }
    } else {
      json value = encode_value(member);
      if ((flags & kKeep) || !is_empty_json(value)) {
        out_[key] = std::move(value);
      }
    }
  }

 private:
  json& out_;
};

template <class T>
requires requires(const T& t, ObjectEncoder& e) {
  fields(t, e);
}
json encode_value(const T& v) {
  json out = json::object();
  ObjectEncoder encoder(out);
  fields(v, encoder);
  return out;
}

// ---- validation helpers --------------------------------------------------------------------

// Kubernetes name rules. Each returns an empty string when valid, else what is wrong.
std::string check_dns_subdomain(std::string_view name);  // lower-case, '-', '.', <= 253
std::string check_dns_label(std::string_view name);      // lower-case, '-', <= 63
std::string check_label_key(std::string_view key);
std::string check_label_value(std::string_view value);
std::string check_port_name(std::string_view name);  // IANA service name, <= 15

void validate_labels(const std::map<std::string, std::string, std::less<>>& labels,
                     const std::string& path);
void validate_labels(const std::map<std::string, std::string>& labels, const std::string& path);
// An empty selector is allowed (means all()).
void validate_selector(const std::string& selector, const std::string& path);

// A CIDR that names a network: host bits are an error ("did you mean 198.18.0.0/16?").
void require_network(const IpPrefix& prefix, const std::string& path);
void require_family(const IpPrefix& prefix, IpFamily family, const std::string& path);
void require_family(const IpAddress& address, IpFamily family, const std::string& path);

// "spec.blockSize" etc. for the common case of a field of spec.
inline std::string spec_path(std::string_view field) {
  return path_join("spec", field);
}

}  // namespace brindle::model
