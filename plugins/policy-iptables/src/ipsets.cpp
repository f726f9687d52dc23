// libipset adapter: see ipsets.hpp.
#include "ipsets.hpp"

#include <libipset/ipset.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>

namespace brindle::policy_iptables::ipset {
namespace {

std::string protocol_text(uint8_t protocol) {
  switch (protocol) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_SCTP:
      return "sctp";
    case IPPROTO_UDPLITE:
      return "udplite";
    default:
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                  "named port with protocol " + std::to_string(protocol) +
                      ": an ipset hash:net,port holds only tcp, udp, sctp and udplite ports");
  }
}

// Host entries without their length, as ipset prints them: "198.18.1.1/32" -> "198.18.1.1".
// (Shorter: most IPv4 members then fit in a std::string without a heap allocation.)
std::string canonical_net(std::string net) {
  const size_t slash = net.find('/');
  if (slash != std::string::npos) {
    const std::string_view length = std::string_view(net).substr(slash + 1);
    if (length == (net.find(':') != std::string::npos ? "128" : "32")) {
      net.resize(slash);
    }
  }
  return net;
}

std::string canonical_member(const std::string& text) {
  const size_t comma = text.find(',');
  if (comma == std::string::npos) {
    return canonical_net(text);
  }
  return canonical_net(text.substr(0, comma)) + text.substr(comma);
}

}  // namespace

std::vector<std::string> member_texts(const IpPrefix& net, SetType type, uint8_t protocol,
                                      uint16_t port) {
  std::vector<IpPrefix> nets;
  if (net.prefix_len() == 0) {
    // hash:net refuses /0: its two halves cover the same addresses.
    brindle_ip_prefix_t low = net.network().raw();
    low.prefix_len = 1;
    brindle_ip_prefix_t high = low;
    high.addr[0] = 0x80;
    nets = {IpPrefix(low), IpPrefix(high)};
  } else {
    nets = {net.network()};
  }
  std::vector<std::string> out;
  for (const IpPrefix& n : nets) {
    out.push_back(type == SetType::kNet ? canonical_net(n.to_string())
                                        : canonical_net(n.to_string()) + "," +
                                              protocol_text(protocol) + ":" + std::to_string(port));
  }
  return out;
}

Members members_of(const IpPrefix& net, SetType type, uint8_t protocol, uint16_t port) {
  if (type == SetType::kNetPort) {
    protocol_text(protocol);  // throws for a protocol the set cannot hold
  }
  Members out;
  const IpPrefix network = net.network();
  Member m;
  std::copy(network.bytes(), network.bytes() + network.byte_len(), m.address.begin());
  m.prefix_len = static_cast<uint8_t>(network.prefix_len());
  if (type == SetType::kNetPort) {
    m.protocol = protocol;
    m.port = port;
  }
  if (m.prefix_len == 0) {
    // hash:net refuses /0: its two halves cover the same addresses.
    m.prefix_len = 1;
    out.items[out.count++] = m;
    m.address[0] = 0x80;
  }
  out.items[out.count++] = m;
  return out;
}

std::string member_text(const Member& member, int family, SetType type) {
  brindle_ip_prefix_t raw{};
  raw.family = static_cast<uint8_t>(family);
  std::copy(member.address.begin(), member.address.end(), raw.addr);
  raw.prefix_len = member.prefix_len;
  const std::string net = canonical_net(IpPrefix(raw).to_string());
  return type == SetType::kNet
             ? net
             : net + "," + protocol_text(member.protocol) + ":" + std::to_string(member.port);
}

struct Session::Impl {
  struct ipset* handle = nullptr;
  std::string output;
  std::string first_error;
  std::vector<std::string> queued;

  static Impl& self(void* p) { return *static_cast<Impl*>(p); }

  static int print_output(struct ipset_session*, void* p, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    const int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n > 0) {
      std::string chunk(static_cast<size_t>(n) + 1, '\0');
      std::vsnprintf(chunk.data(), chunk.size(), fmt, args);
      chunk.resize(static_cast<size_t>(n));
      self(p).output += chunk;
    }
    va_end(args);
    return 0;
  }
  // Parser errors (bad syntax): libipset's default would print and exit the process.
  static int custom_error(struct ipset* handle, void* p, int, const char* fmt, ...) {
    char buf[512];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    record(self(p), buf);
    ipset_session_report_reset(ipset_session(handle));
    return -1;
  }
  // Kernel and session errors; warnings (e.g. "-exist" notes) are not errors.
  static int standard_error(struct ipset* handle, void* p) {
    struct ipset_session* session = ipset_session(handle);
    const bool is_error = ipset_session_report_type(session) == IPSET_ERROR;
    if (is_error) {
      record(self(p), ipset_session_report_msg(session));
    }
    ipset_session_report_reset(session);
    return is_error ? -1 : 0;
  }
  static void record(Impl& impl, const char* message) {
    if (impl.first_error.empty()) {
      impl.first_error = message;
      while (!impl.first_error.empty() && impl.first_error.back() == '\n') {
        impl.first_error.pop_back();
      }
      if (impl.first_error.empty()) {
        impl.first_error = "unknown ipset error";
      }
    }
  }

  // Runs one command and returns its output.
  std::string command(const std::string& line) {
    output.clear();
    first_error.clear();
    std::string buffer = line;
    const int rc = ipset_parse_line(handle, buffer.data());
    // The listing options ("list -n", "list -t") and output mode stay set in the session and
    // would turn every later "save" into a bare name or header listing.
    struct ipset_session* session = ipset_session(handle);
    ipset_envopt_unset(session, IPSET_ENV_LIST_SETNAME);
    ipset_envopt_unset(session, IPSET_ENV_LIST_HEADER);
    ipset_session_output(session, IPSET_LIST_NONE);
    if (rc < 0 || !first_error.empty()) {
      throw Error(BRINDLE_ERR_UNAVAILABLE,
                  "ipset " + line + ": " + (first_error.empty() ? "failed" : first_error));
    }
    return output;
  }
};

Session::Session() : impl_(std::make_unique<Impl>()) {
  static std::once_flag types_loaded;
  std::call_once(types_loaded, [] { ipset_load_types(); });
  impl_->handle = ipset_init();
  if (impl_->handle == nullptr) {
    throw Error(BRINDLE_ERR_UNAVAILABLE, "ipset: cannot open a session with the kernel");
  }
  ipset_custom_printf(impl_->handle, &Impl::custom_error, &Impl::standard_error,
                      &Impl::print_output, impl_.get());
  // Creating an existing set, adding a present or removing an absent member are not errors.
  ipset_envopt_set(ipset_session(impl_->handle), IPSET_ENV_EXIST);
}

Session::~Session() {
  if (impl_->handle != nullptr) {
    ipset_fini(impl_->handle);
  }
}

std::vector<std::string> Session::list_names() {
  std::vector<std::string> out;
  std::istringstream lines(impl_->command("list -n"));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) {
      out.push_back(line);
    }
  }
  return out;
}

std::pair<std::string, int> Session::describe(const std::string& name) {
  std::istringstream lines(impl_->command("list -t " + name));
  std::pair<std::string, int> out{"", 0};
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Type: ", 0) == 0) {
      out.first = line.substr(6);
    } else if (line.rfind("Header: ", 0) == 0) {
      out.second = line.find("family inet6") != std::string::npos ? 6 : 4;
    }
  }
  return out;
}

std::set<std::string> Session::members(const std::string& name) {
  std::set<std::string> out;
  std::istringstream lines(impl_->command("save " + name));
  const std::string prefix = "add " + name + " ";
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) {
      std::string member = line.substr(prefix.size());
      const size_t space = member.find(' ');  // options (timeouts, comments) are not ours
      out.insert(canonical_member(member.substr(0, space)));
    }
  }
  return out;
}

void Session::create(const std::string& name, const SetHeader& header) {
  impl_->queued.push_back("create " + name +
                          (header.type == SetType::kNet ? " hash:net" : " hash:net,port") +
                          " family " + (header.family == 6 ? "inet6" : "inet") + " maxelem " +
                          std::to_string(header.max_elements));
}
void Session::add(const std::string& name, const std::string& member) {
  impl_->queued.push_back("add " + name + " " + member);
}
void Session::remove(const std::string& name, const std::string& member) {
  impl_->queued.push_back("del " + name + " " + member);
}
void Session::flush(const std::string& name) {
  impl_->queued.push_back("flush " + name);
}
void Session::swap(const std::string& a, const std::string& b) {
  impl_->queued.push_back("swap " + a + " " + b);
}
void Session::destroy(const std::string& name) {
  impl_->queued.push_back("destroy " + name);
}

void Session::run() {
  if (impl_->queued.empty()) {
    return;
  }
  std::string batch;
  for (const std::string& line : impl_->queued) {
    batch += line + "\n";
  }
  const std::vector<std::string> commands = std::move(impl_->queued);
  impl_->queued.clear();
  impl_->first_error.clear();
  FILE* stream = fmemopen(batch.data(), batch.size(), "r");
  if (stream == nullptr) {
    throw Error(BRINDLE_ERR_RESOURCE_EXHAUSTED, "ipset: cannot open a command stream");
  }
  const int rc = ipset_parse_stream(impl_->handle, stream);
  std::fclose(stream);
  if (rc < 0 || !impl_->first_error.empty()) {
    throw Error(BRINDLE_ERR_UNAVAILABLE,
                "ipset batch of " + std::to_string(commands.size()) + " commands (first: \"" +
                    commands.front() +
                    "\"): " + (impl_->first_error.empty() ? "failed" : impl_->first_error));
  }
}

uint16_t kernel_index(const std::string& name) {
  const int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) {
    throw Error(BRINDLE_ERR_UNAVAILABLE,
                std::string("ipset index lookup: socket: ") + std::strerror(errno));
  }
  ip_set_req_version version{};
  version.op = IP_SET_OP_VERSION;
  socklen_t size = sizeof(version);
  if (getsockopt(fd, SOL_IP, SO_IP_SET, &version, &size) != 0) {
    const int error = errno;
    close(fd);
    throw Error(BRINDLE_ERR_UNAVAILABLE,
                std::string("ipset index lookup: kernel version: ") + std::strerror(error));
  }
  ip_set_req_get_set request{};
  request.op = IP_SET_OP_GET_BYNAME;
  request.version = version.version;
  std::strncpy(request.set.name, name.c_str(), IPSET_MAXNAMELEN - 1);
  size = sizeof(request);
  const int rc = getsockopt(fd, SOL_IP, SO_IP_SET, &request, &size);
  const int error = errno;
  close(fd);
  if (rc != 0) {
    throw Error(BRINDLE_ERR_UNAVAILABLE,
                "ipset index lookup of " + name + ": " + std::strerror(error));
  }
  if (request.set.index == IPSET_INVALID_ID) {
    throw Error(BRINDLE_ERR_NOT_FOUND, "ipset " + name + " does not exist");
  }
  return request.set.index;
}

}  // namespace brindle::policy_iptables::ipset
