#include "kube_kinds.h"

#include <algorithm>
#include <cctype>

namespace brindle::kube {
namespace {

struct KindSpec {
  std::string_view kind;
  bool namespaced;
};

// host/model/src/registry.cpp, in its order.
constexpr KindSpec kHostKinds[] = {
    {"IPPool", false},
    {"IPAMConfig", false},
    {"IPAMBlock", false},
    {"BlockAffinity", false},
    {"IPAMHandle", false},
    {"Node", false},
    {"WorkloadEndpoint", true},
    {"NetworkPolicy", true},
    {"GlobalNetworkPolicy", false},
    {"NetworkSet", true},
    {"GlobalNetworkSet", false},
    {"Profile", false},
    {"KubernetesNetworkPolicy", true},
    {"BGPConfiguration", false},
    {"BGPPeer", false},
    {"AgentConfiguration", false},
};

// The Profile of a Kubernetes namespace, as in Calico.
constexpr std::string_view kNamespaceProfilePrefix = "kns.";

// A core v1 resource (group "") the host sees as `kind`: a derived source, read-only.
KindInfo core_source(std::string kind, bool namespaced, std::string plural, std::string kube_kind) {
  KindInfo info;
  info.kind = std::move(kind);
  info.namespaced = namespaced;
  info.native = true;
  info.version = "v1";
  info.plural = std::move(plural);
  info.source = kube_kind;
  info.kube_kind = std::move(kube_kind);
  info.derived = true;
  return info;
}

bool is_vowel(char c) {
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

}  // namespace

std::string plural_of(std::string_view kind) {
  std::string lower(kind);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.empty()) {
    return lower;
  }
  const char last = lower.back();
  const char before = lower.size() > 1 ? lower[lower.size() - 2] : '\0';
  if (last == 'y' && before != '\0' && !is_vowel(before)) {
    return lower.substr(0, lower.size() - 1) + "ies";  // policy -> policies
  }
  if (last == 's' || last == 'x' || last == 'z' ||
      ((last == 'h') && (before == 'c' || before == 's'))) {
    return lower + "es";  // address -> addresses, mesh -> meshes
  }
  return lower + "s";
}

KindTable::KindTable(std::string crd_group) : crd_group_(std::move(crd_group)) {
  for (const KindSpec& spec : kHostKinds) {
    KindInfo info;
    info.kind = spec.kind;
    info.namespaced = spec.namespaced;
    if (spec.kind == "KubernetesNetworkPolicy") {
      info.native = true;
      info.group = "networking.k8s.io";
      info.plural = "networkpolicies";
      info.kube_kind = "NetworkPolicy";
    } else {
      info.group = crd_group_;
      info.plural = plural_of(spec.kind);
      info.kube_kind = spec.kind;
    }
    info.version = "v1";
    info.source = info.kind;
    if (spec.kind == "Profile") {
      info.reserved_prefix = kNamespaceProfilePrefix;
    }
    kinds_.push_back(std::move(info));
  }
  KindInfo namespaces = core_source("Profile", false, "namespaces", "Namespace");
  namespaces.name_prefix = kNamespaceProfilePrefix;
  derived_.push_back(std::move(namespaces));
  KindInfo pods = core_source("WorkloadEndpoint", true, "pods", "Pod");
  pods.overlay = true;
  derived_.push_back(std::move(pods));
}

std::vector<const KindInfo*> KindTable::sources(std::string_view kind) const {
  std::vector<const KindInfo*> out;
  for (const KindInfo& info : kinds_) {
    if (kind.empty() || info.kind == kind) {
      out.push_back(&info);
    }
  }
  if (out.empty()) {
    require(kind);  // throws, naming the known kinds
  }
  for (const KindInfo& info : derived_) {
    if (kind.empty() || info.kind == kind) {
      out.push_back(&info);
    }
  }
  return out;
}

const KindInfo* KindTable::overlay_of(std::string_view kind) const {
  for (const KindInfo& info : derived_) {
    if (info.overlay && info.kind == kind) {
      return &info;
    }
  }
  return nullptr;
}

const KindInfo& KindTable::source_of(const KindInfo& own, std::string_view name) const {
  for (const KindInfo& info : derived_) {
    if (info.kind == own.kind && !info.name_prefix.empty() && name.starts_with(info.name_prefix)) {
      return info;
    }
  }
  return own;
}

void check_writable(const KindInfo& source, const ResourceKey& key) {
  if (!source.derived) {
    return;
  }
  const std::string object = key.name.substr(source.name_prefix.size());
  throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
              "name: " + key.kind + " \"" + key.name + "\" is Kubernetes " + source.kube_kind +
                  " \"" + object + "\" as the kubernetes datastore shows it, and read-only: " +
                  "change the " + source.kube_kind + " instead (kubectl label " + source.plural +
                  " " + object + " key=value)");
}

const KindInfo* KindTable::find(std::string_view kind) const {
  for (const KindInfo& info : kinds_) {
    if (info.kind == kind) {
      return &info;
    }
  }
  return nullptr;
}

const KindInfo& KindTable::require(std::string_view kind) const {
  if (const KindInfo* info = find(kind)) {
    return *info;
  }
  std::string known;
  for (const KindInfo& info : kinds_) {
    known += (known.empty() ? "" : ", ") + info.kind;
  }
  throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "kind: \"" + std::string(kind) +
                                                "\" is not stored by the kubernetes datastore "
                                                "(known kinds: " +
                                                known + ")");
}

void check_key(const KindInfo& kind, const ResourceKey& key) {
  auto check_segment = [](const char* field, const std::string& value) {
    if (value.empty()) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT, std::string(field) + ": must not be empty");
    }
    if (value == "." || value == ".." ||
        std::any_of(value.begin(), value.end(), [](unsigned char c) {
          return c == '/' || c == '%' || c < 0x20 || c == 0x7f;
        })) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                  std::string(field) + ": \"" + value +
                      "\" cannot name a Kubernetes object (no '/', '%', control characters, "
                      "'.' or '..')");
    }
  };
  check_segment("name", key.name);
  if (kind.namespaced) {
    check_segment("namespace", key.namespace_);
  } else if (!key.namespace_.empty()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "namespace: " + kind.kind +
                                                  " is cluster-scoped, but namespace \"" +
                                                  key.namespace_ + "\" was given");
  }
}

std::string url_escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

std::string collection_path(const KindInfo& kind, std::string_view namespace_) {
  std::string path = kind.group_path();
  if (kind.namespaced && !namespace_.empty()) {
    path += "/namespaces/" + url_escape(namespace_);
  }
  return path + "/" + kind.plural;
}

std::string item_path(const KindInfo& kind, std::string_view namespace_, std::string_view name) {
  return collection_path(kind, namespace_) + "/" + url_escape(name);
}

}  // namespace brindle::kube

namespace brindle::kube {

std::string format_composite_revision(const std::vector<KindRevision>& revisions) {
  std::string out;
  for (const KindRevision& r : revisions) {
    out += (out.empty() ? "" : ";") + r.kind + "=" + r.resource_version;
  }
  return out;
}

bool parse_composite_revision(std::string_view text, std::vector<KindRevision>* out) {
  out->clear();
  if (text.find('=') == std::string_view::npos) {
    return false;
  }
  while (!text.empty()) {
    const size_t end = std::min(text.find(';'), text.size());
    const std::string_view entry = text.substr(0, end);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == entry.size()) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                  "revision: \"" + std::string(entry) +
                      "\" is not kind=resourceVersion (a list revision of this datastore)");
    }
    out->push_back({std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1))});
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return true;
}

}  // namespace brindle::kube
