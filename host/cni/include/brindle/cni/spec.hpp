// What the CNI specification prescribes, independent of the transport: supported versions, the
// result format of each version, error objects, CNI_ARGS and the validity of names.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "brindle/cni/protocol.hpp"

namespace brindle::cni {

inline constexpr std::string_view kLatestVersion = "1.1.0";

// "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0".
std::span<const std::string_view> supported_versions();
bool is_supported_version(std::string_view version);
// Compares two "major.minor.patch" versions: <0, 0, >0. Unparsable parts count as 0.
int compare_versions(std::string_view a, std::string_view b);

// The operations of CNI_COMMAND and the first spec version that has them.
bool command_allowed(std::string_view command, std::string_view version);

// The ADD result in the format of `version` (which must be supported): `ips[].version` only before
// 1.0.0, interface `mtu` only from 1.1.0, always `cniVersion`, `interfaces`, `ips`, `routes`,
// `dns`. Throws ProtocolError (code 110) if an IP address does not parse (its version is unknown).
nlohmann::json format_result(const Result& result, std::string_view version);

// {"cniVersion", "code", "msg", "details"?}
nlohmann::json format_error(int code, std::string_view message, std::string_view details,
                            std::string_view version);

// VERSION's answer: {"cniVersion": version, "supportedVersions": [...]}.
nlohmann::json format_version_info(std::string_view version);

// CNI_ARGS "K=V;K=V" (empty parts ignored). Throws ProtocolError (code 4) for a part without '='
// or with an empty key.
std::vector<std::pair<std::string, std::string>> parse_cni_args(std::string_view text);

// Validity rules of the spec; each returns an explanation when invalid, nullopt when valid.
// Container IDs: [A-Za-z0-9][A-Za-z0-9_.-]*. Interface names: 1..15 bytes, not "." or "..", no
// '/', ':' or whitespace. Network names: like container IDs.
std::optional<std::string> container_id_problem(std::string_view id);
std::optional<std::string> interface_name_problem(std::string_view name);
std::optional<std::string> network_name_problem(std::string_view name);

}  // namespace brindle::cni
