// IPPool, IPAMConfig, IPAMBlock, BlockAffinity, IPAMHandle.
#include <algorithm>
#include <set>

#include "kind_impl.hpp"
#include "spec_codec.hpp"

namespace brindle::model {

BRINDLE_FIELDS(IPPoolSpec) {
  v("cidr", s.cidr, kRequired);
  v("blockSize", s.block_size);
  v("ipipMode", s.ipip_mode);
  v("vxlanMode", s.vxlan_mode);
  v("natOutgoing", s.nat_outgoing);
  v("disabled", s.disabled);
  v("nodeSelector", s.node_selector);
  v("allowedUses", s.allowed_uses);
}

BRINDLE_FIELDS(IPAMConfigSpec) {
  v("strictAffinity", s.strict_affinity);
  v("autoAllocateBlocks", s.auto_allocate_blocks);
  v("maxBlocksPerHost", s.max_blocks_per_host);
}

BRINDLE_FIELDS(AllocationAttribute) {
  v("handleID", s.handle_id);
  v("secondary", s.secondary);
}

BRINDLE_FIELDS(IPAMBlockSpec) {
  v("cidr", s.cidr, kRequired);
  v("affinity", s.affinity);
  v("allocations", s.allocations);
  v("unallocated", s.unallocated);
  v("attributes", s.attributes);
  v("deleted", s.deleted);
}

BRINDLE_FIELDS(BlockAffinitySpec) {
  v("state", s.state, kRequired);
  v("node", s.node, kRequired);
  v("cidr", s.cidr, kRequired);
  v("deleted", s.deleted);
}

BRINDLE_FIELDS(IPAMHandleSpec) {
  v("handleID", s.handle_id, kRequired);
  v("block", s.block);
  v("deleted", s.deleted);
}

namespace {

// Strings the generic encoder prints as they are (no escaping, no UTF-8 checks).
bool is_plain(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
  });
}

void append_string(std::string& out, std::string_view text) {
  out += '"';
  out += text;
  out += '"';
}

// The spec's members in the generic encoder's order (sorted keys) and with its omissions (empty
// strings, lists and objects), or nothing when a string would need escaping.
bool append_block_spec(std::string& out, const IPAMBlockSpec& s) {
  out += '{';
  bool first = true;
  auto key = [&](std::string_view name) {
    out += first ? "\"" : ",\"";
    first = false;
    out += name;
    out += "\":";
  };
  if (!s.affinity.empty()) {
    if (!is_plain(s.affinity)) {
      return false;
    }
    key("affinity");
    append_string(out, s.affinity);
  }
  if (!s.allocations.empty()) {
    key("allocations");
    out += '[';
    for (size_t i = 0; i < s.allocations.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      out += s.allocations[i] ? std::to_string(*s.allocations[i]) : "null";
    }
    out += ']';
  }
  if (!s.attributes.empty()) {
    key("attributes");
    out += '[';
    for (size_t i = 0; i < s.attributes.size(); ++i) {
      const AllocationAttribute& a = s.attributes[i];
      out += i > 0 ? ",{" : "{";
      if (!a.handle_id.empty()) {
        if (!is_plain(a.handle_id)) {
          return false;
        }
        out += "\"handleID\":";
        append_string(out, a.handle_id);
      }
      if (!a.secondary.empty()) {
        out += a.handle_id.empty() ? "\"secondary\":{" : ",\"secondary\":{";
        bool first_entry = true;
        for (const auto& [name, value] : a.secondary) {
          if (!is_plain(name) || !is_plain(value)) {
            return false;
          }
          out += first_entry ? "" : ",";
          first_entry = false;
          append_string(out, name);
          out += ':';
          append_string(out, value);
        }
        out += '}';
      }
      out += '}';
    }
    out += ']';
  }
  const std::string cidr = s.cidr.to_string();
  if (!cidr.empty()) {
    key("cidr");
    append_string(out, cidr);
  }
  key("deleted");
  out += s.deleted ? "true" : "false";
  if (!s.unallocated.empty()) {
    key("unallocated");
    out += '[';
    for (size_t i = 0; i < s.unallocated.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      out += std::to_string(s.unallocated[i]);
    }
    out += ']';
  }
  out += '}';
  return true;
}

}  // namespace

std::string block_json_text(const IPAMBlock& block) {
  // The envelope (apiVersion, kind, metadata) from the generic encoder with an empty spec, which
  // is its last member: the spec's text goes in its place.
  Resource envelope;
  envelope.kind = std::string(IPAMBlockSpec::kKind);
  envelope.metadata = block.metadata;
  std::string text = to_json_text(envelope);
  constexpr std::string_view kEmptySpec = "\"spec\":{}}";
  if (text.ends_with(kEmptySpec)) {
    text.resize(text.size() - 3);  // keeps "spec":
    text.reserve(text.size() + 64 * block.spec.attributes.size() +
                 8 * block.spec.allocations.size() + 64);
    if (append_block_spec(text, block.spec)) {
      text += '}';
      return text;
    }
  }
  return to_json_text(encode(block));
}

BRINDLE_INSTANTIATE_SPEC_CODEC(IPPoolSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(IPAMConfigSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(IPAMBlockSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(BlockAffinitySpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(IPAMHandleSpec);

namespace {

constexpr int kMinBlockV4 = 20;
constexpr int kMaxBlockV4 = 32;
constexpr int kMinBlockV6 = 116;
constexpr int kMaxBlockV6 = 128;

struct ReservedRange {
  const char* cidr;
  const char* what;
};
constexpr ReservedRange kReservedRanges[] = {
    {"127.0.0.0/8", "the loopback range"},  {"169.254.0.0/16", "the link-local range"},
    {"224.0.0.0/4", "the multicast range"}, {"::1/128", "the loopback address"},
    {"fe80::/10", "the link-local range"},  {"ff00::/8", "the multicast range"},
};

// Blocks are at most 4096 addresses; the range keeps block documents a sensible size.
void check_block_prefix(const IpPrefix& cidr, const std::string& path) {
  bool v4 = cidr.is_v4();
  int min = v4 ? kMinBlockV4 : kMinBlockV6;
  int max = v4 ? kMaxBlockV4 : kMaxBlockV6;
  if (cidr.prefix_length() < min || cidr.prefix_length() > max) {
    throw ValidationError(path, "a block must be between /" + std::to_string(min) + " and /" +
                                    std::to_string(max) + " for " +
                                    std::string(family_name(cidr.family())));
  }
}

void check_node_name(const std::string& node, const std::string& path) {
  if (std::string why = check_dns_subdomain(node); !why.empty()) {
    throw ValidationError(path, "invalid node name \"" + node + "\": " + why);
  }
}

}  // namespace

// ---- IPPool --------------------------------------------------------------------------------

void default_spec(const ObjectMeta&, IPPoolSpec& s) {
  if (s.block_size == 0) {
    s.block_size = s.cidr.is_v4() ? 26 : 122;
  }
  if (s.node_selector.empty()) {
    s.node_selector = "all()";
  }
  if (s.allowed_uses.empty()) {
    s.allowed_uses = {AllowedUse::kWorkload, AllowedUse::kTunnel};
  }
}

void validate_spec(const ObjectMeta&, const IPPoolSpec& s) {
  require_network(s.cidr, spec_path("cidr"));
  for (const auto& reserved : kReservedRanges) {
    IpPrefix range = IpPrefix::parse(reserved.cidr);
    if (range.overlaps(s.cidr)) {
      throw ValidationError(spec_path("cidr"), "\"" + s.cidr.to_string() + "\" overlaps " +
                                                   reserved.what + " " + range.to_string());
    }
  }
  bool v4 = s.cidr.is_v4();
  int min = v4 ? kMinBlockV4 : kMinBlockV6;
  int max = v4 ? kMaxBlockV4 : kMaxBlockV6;
  if (s.block_size < min || s.block_size > max) {
    throw ValidationError(spec_path("blockSize"),
                          "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                              " for an " + std::string(family_name(s.cidr.family())) + " pool");
  }
  if (s.block_size < s.cidr.prefix_length()) {
    throw ValidationError(spec_path("blockSize"),
                          "must not be smaller than the pool's prefix length " +
                              std::to_string(s.cidr.prefix_length()) +
                              ": a block cannot be larger than its pool");
  }
  if (s.ipip_mode != EncapsulationMode::kNever && !v4) {
    throw ValidationError(spec_path("ipipMode"), "IPIP is only supported for IPv4 pools");
  }
  if (s.ipip_mode != EncapsulationMode::kNever && s.vxlan_mode != EncapsulationMode::kNever) {
    throw ValidationError(spec_path("vxlanMode"),
                          "cannot be enabled together with ipipMode; choose one encapsulation");
  }
  validate_selector(s.node_selector, spec_path("nodeSelector"));
  std::set<AllowedUse> seen;
  for (size_t i = 0; i < s.allowed_uses.size(); ++i) {
    if (!seen.insert(s.allowed_uses[i]).second) {
      throw ValidationError(path_index(spec_path("allowedUses"), i),
                            std::string(to_string(s.allowed_uses[i])) + " is listed twice");
    }
  }
}

// ---- IPAMConfig ----------------------------------------------------------------------------

void default_spec(const ObjectMeta&, IPAMConfigSpec&) {}

void validate_spec(const ObjectMeta& meta, const IPAMConfigSpec& s) {
  if (meta.name != "default") {
    throw ValidationError("metadata.name", "must be \"default\": there is one IPAMConfig");
  }
  if (s.max_blocks_per_host < 0) {
    throw ValidationError(spec_path("maxBlocksPerHost"), "must not be negative (0 = unlimited)");
  }
}

// ---- IPAMBlock -----------------------------------------------------------------------------

void default_spec(const ObjectMeta&, IPAMBlockSpec& s) {
  // A new block: every address free, in address order.
  if (s.allocations.empty() && s.unallocated.empty() && s.cidr.host_bits() <= 12) {
    auto size = static_cast<int32_t>(s.cidr.size());
    s.allocations.assign(static_cast<size_t>(size), std::nullopt);
    s.unallocated.reserve(static_cast<size_t>(size));
    for (int32_t i = 0; i < size; ++i) {
      s.unallocated.push_back(i);
    }
  }
}

void validate_spec(const ObjectMeta&, const IPAMBlockSpec& s) {
  require_network(s.cidr, spec_path("cidr"));
  check_block_prefix(s.cidr, spec_path("cidr"));
  if (!s.affinity.empty()) {
    constexpr std::string_view kHost = "host:";
    if (s.affinity.rfind(kHost, 0) != 0) {
      throw ValidationError(spec_path("affinity"),
                            "must be \"host:<node name>\", got \"" + s.affinity + "\"");
    }
    check_node_name(s.affinity.substr(kHost.size()), spec_path("affinity"));
  }
  const size_t size = s.cidr.size();
  if (s.allocations.size() != size) {
    throw ValidationError(spec_path("allocations"), "must have " + std::to_string(size) +
                                                        " entries (one per address of " +
                                                        s.cidr.to_string() + "), got " +
                                                        std::to_string(s.allocations.size()));
  }
  for (size_t i = 0; i < size; ++i) {
    const auto& a = s.allocations[i];
    if (a && (*a < 0 || static_cast<size_t>(*a) >= s.attributes.size())) {
      throw ValidationError(path_index(spec_path("allocations"), i),
                            "refers to attribute " + std::to_string(*a) + ", but there are " +
                                std::to_string(s.attributes.size()) + " attributes");
    }
  }
  std::vector<bool> listed(size, false);
  for (size_t i = 0; i < s.unallocated.size(); ++i) {
    const std::string path = path_index(spec_path("unallocated"), i);
    int32_t ordinal = s.unallocated[i];
    if (ordinal < 0 || static_cast<size_t>(ordinal) >= size) {
      throw ValidationError(path, "ordinal " + std::to_string(ordinal) +
                                      " is outside the block (0 to " + std::to_string(size - 1) +
                                      ")");
    }
    auto index = static_cast<size_t>(ordinal);
    if (listed[index]) {
      throw ValidationError(path, "ordinal " + std::to_string(ordinal) + " is listed twice");
    }
    listed[index] = true;
    if (s.allocations[index]) {
      throw ValidationError(path, "ordinal " + std::to_string(ordinal) +
                                      " is free here but allocated in spec.allocations[" +
                                      std::to_string(ordinal) + "]");
    }
  }
  for (size_t i = 0; i < size; ++i) {
    if (!s.allocations[i] && !listed[i]) {
      throw ValidationError(
          spec_path("unallocated"),
          "ordinal " + std::to_string(i) + " is free in spec.allocations but missing here");
    }
  }
}

// ---- BlockAffinity -------------------------------------------------------------------------

void default_spec(const ObjectMeta&, BlockAffinitySpec&) {}

void validate_spec(const ObjectMeta&, const BlockAffinitySpec& s) {
  check_node_name(s.node, spec_path("node"));
  require_network(s.cidr, spec_path("cidr"));
  check_block_prefix(s.cidr, spec_path("cidr"));
}

// ---- IPAMHandle ----------------------------------------------------------------------------

void default_spec(const ObjectMeta&, IPAMHandleSpec&) {}

void validate_spec(const ObjectMeta&, const IPAMHandleSpec& s) {
  if (s.handle_id.empty()) {
    throw ValidationError(spec_path("handleID"), "must not be empty");
  }
  for (const auto& [cidr, count] : s.block) {
    const std::string path = path_join(spec_path("block"), cidr);
    std::string why;
    auto prefix = IpPrefix::try_parse(cidr, &why);
    if (!prefix) {
      throw ValidationError(path, why);
    }
    require_network(*prefix, path);
    if (count < 0) {
      throw ValidationError(path, "the count must not be negative");
    }
  }
}

std::string block_name(const IpPrefix& block) {
  std::string name = block.to_string();
  std::replace_if(
      name.begin(), name.end(), [](char c) { return c == '.' || c == ':' || c == '/'; }, '-');
  return name;
}

std::string block_affinity_name(std::string_view node, const IpPrefix& block) {
  return std::string(node) + "-" + block_name(block);
}

}  // namespace brindle::model
