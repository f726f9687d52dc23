// Every validation rule: the path and the exact message people see.
#include <gtest/gtest.h>

#include <string>

#include "brindle/model/parse.hpp"

namespace brindle::model {
namespace {

// "path: message" of the single error in `yaml`, or "" when it is valid.
std::string error_of(const std::string& yaml) {
  ParseResult result = parse_resources(yaml, "test.yaml");
  if (result.errors.empty())
    return "";
  EXPECT_EQ(result.errors.size(), 1u);
  const DocumentError& e = result.errors.front();
  EXPECT_EQ(e.document(), 1u);
  return e.path().empty() ? e.message() : e.path() + ": " + e.message();
}

struct Case {
  const char* kind;
  const char* metadata;
  const char* spec;
  const char* error;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.kind << " " << c.metadata << " " << c.spec;
}

std::string document(const Case& c) {
  return std::string("apiVersion: brindle.network/v1\nkind: ") + c.kind +
         "\nmetadata: " + c.metadata + "\nspec: " + c.spec + "\n";
}

class Validation : public ::testing::TestWithParam<Case> {};

TEST_P(Validation, ReportsPathAndMessage) {
  const Case& c = GetParam();
  EXPECT_EQ(error_of(document(c)), c.error) << document(c);
}

constexpr const char* kName = "{name: x}";
constexpr const char* kNs = "{name: x, namespace: shop}";

// clang-format off
INSTANTIATE_TEST_SUITE_P(Metadata, Validation, ::testing::Values(
  Case{"IPPool", "{}", "{cidr: 198.18.0.0/16}", "metadata.name: is required"},
  Case{"IPPool", "{name: Pool_A}", "{cidr: 198.18.0.0/16}",
       "metadata.name: invalid name \"Pool_A\": must consist of lower-case letters, digits, '-' "
       "and '.', and start and end with a letter or digit"},
  Case{"IPPool", "{name: a..b}", "{cidr: 198.18.0.0/16}",
       "metadata.name: invalid name \"a..b\": must consist of lower-case letters, digits, '-' "
       "and '.', and start and end with a letter or digit"},
  Case{"IPPool", "{name: x, namespace: shop}", "{cidr: 198.18.0.0/16}",
       "metadata.namespace: must not be set: IPPool is not namespaced"},
  Case{"NetworkSet", "{name: x, namespace: Shop}", "{}",
       "metadata.namespace: invalid namespace \"Shop\": must consist of lower-case letters, "
       "digits and '-', and start and end with a letter or digit"},
  Case{"IPPool", "{name: x, labels: {version: 1}}", "{cidr: 198.18.0.0/16}",
       "metadata.labels.version: must be a string, got the number 1 (quote it: \"1\")"},
  Case{"IPPool", "{name: x, labels: {-bad: v}}", "{cidr: 198.18.0.0/16}",
       "metadata.labels[\"-bad\"]: invalid label key: the name part must consist of letters, "
       "digits, '-', '_' and '.', and start and end with a letter or digit"},
  Case{"IPPool", "{name: x, labels: {Example.com/a: v}}", "{cidr: 198.18.0.0/16}",
       "metadata.labels[\"Example.com/a\"]: invalid label key: the prefix \"Example.com\" must "
       "consist of lower-case letters, digits, '-' and '.', and start and end with a letter or "
       "digit"},
  Case{"IPPool", "{name: x, labels: {a: 'has space'}}", "{cidr: 198.18.0.0/16}",
       "metadata.labels.a: invalid label value \"has space\": the value must consist of letters, "
       "digits, '-', '_' and '.', and start and end with a letter or digit"},
  Case{"IPPool", "{name: x, labels: {a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}",
       "{cidr: 198.18.0.0/16}",
       "metadata.labels.a: invalid label value \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaa\": the value must be at most 63 characters"},
  Case{"IPPool", "{name: x, annotations: {'bad key': v}}", "{cidr: 198.18.0.0/16}",
       "metadata.annotations[\"bad key\"]: invalid key: the name part must consist of letters, "
       "digits, '-', '_' and '.', and start and end with a letter or digit"},
  Case{"IPPool", "{name: x, resourceVersion: '1'}", "{cidr: 198.18.0.0/16}",
       "metadata.resourceVersion: unknown field (known fields: name, namespace, labels, "
       "annotations, revision, uid, creationTimestamp)"},
  Case{"IPPool", "{name: x, nmae: y}", "{cidr: 198.18.0.0/16}",
       "metadata.nmae: unknown field (did you mean name?)"},
  Case{"IPPool", "{name: x, creationTimestamp: yesterday}", "{cidr: 198.18.0.0/16}",
       "metadata.creationTimestamp: \"yesterday\" is not an RFC 3339 time (e.g. "
       "2024-05-01T12:00:00Z)"},
  Case{"IPPool", "{name: x, creationTimestamp: '2024-05-01T12:00:00.123+02:00'}",
       "{cidr: 198.18.0.0/16}", ""},
  Case{"IPPool", "x", "{cidr: 198.18.0.0/16}", "metadata: must be a mapping, got the string \"x\""},
  Case{"IPPool", kName, "[1]", "spec: must be a mapping, got a list"}));

INSTANTIATE_TEST_SUITE_P(IPPool, Validation, ::testing::Values(
  Case{"IPPool", kName, "{}", "spec.cidr: is required"},
  Case{"IPPool", kName, "{cidr: 198.18.0.1/16}",
       "spec.cidr: \"198.18.0.1/16\" has host bits set; did you mean 198.18.0.0/16?"},
  Case{"IPPool", kName, "{cidr: '2001:db8::1/48'}",
       "spec.cidr: \"2001:db8::1/48\" has host bits set; did you mean 2001:db8::/48?"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/33}",
       "spec.cidr: \"198.18.0.0/33\" is not a valid CIDR: the prefix length must be a number "
       "from 0 to 32 for an IPv4 address"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0}",
       "spec.cidr: \"198.18.0.0\" is not a CIDR: expected <address>/<prefix length>"},
  Case{"IPPool", kName, "{cidr: 16}", "spec.cidr: must be a string, got the number 16 (quote it: \"16\")"},
  Case{"IPPool", kName, "{cidr: 169.254.0.0/24}",
       "spec.cidr: \"169.254.0.0/24\" overlaps the link-local range 169.254.0.0/16"},
  Case{"IPPool", kName, "{cidr: 0.0.0.0/0}",
       "spec.cidr: \"0.0.0.0/0\" overlaps the loopback range 127.0.0.0/8"},
  Case{"IPPool", kName, "{cidr: 'fe80::/64'}",
       "spec.cidr: \"fe80::/64\" overlaps the link-local range fe80::/10"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, blockSize: 19}",
       "spec.blockSize: must be between 20 and 32 for an IPv4 pool"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, blockSize: 33}",
       "spec.blockSize: must be between 20 and 32 for an IPv4 pool"},
  Case{"IPPool", kName, "{cidr: '2001:db8::/48', blockSize: 64}",
       "spec.blockSize: must be between 116 and 128 for an IPv6 pool"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/26, blockSize: 24}",
       "spec.blockSize: must not be smaller than the pool's prefix length 26: a block cannot be "
       "larger than its pool"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, blockSize: '26'}",
       "spec.blockSize: must be an integer, got the string \"26\""},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, blockSize: 26.5}",
       "spec.blockSize: must be an integer, got the number 26.5"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, blockSize: 99999999999}",
       "spec.blockSize: must be an integer from -2147483648 to 2147483647, got 99999999999"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, ipipMode: Sometimes}",
       "spec.ipipMode: must be one of Never, Always or CrossSubnet, got the string \"Sometimes\""},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, ipipMode: always}",
       "spec.ipipMode: must be one of Never, Always or CrossSubnet, got the string \"always\" "
       "(names are case-sensitive: write Always)"},
  Case{"IPPool", kName, "{cidr: '2001:db8::/48', ipipMode: Always}",
       "spec.ipipMode: IPIP is only supported for IPv4 pools"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, ipipMode: Always, vxlanMode: CrossSubnet}",
       "spec.vxlanMode: cannot be enabled together with ipipMode; choose one encapsulation"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, natOutgoing: yes}",
       "spec.natOutgoing: must be true or false, got the string \"yes\""},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, nodeSelector: 'zone =='}",
       "spec.nodeSelector: selector \"zone ==\": column 8: expected a quoted string"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, allowedUses: [Workload, Workload]}",
       "spec.allowedUses[1]: Workload is listed twice"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, allowedUses: [LoadBalancer]}",
       "spec.allowedUses[0]: must be one of Workload or Tunnel, got the string \"LoadBalancer\""},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, blockSiz: 26}",
       "spec.blockSiz: unknown field (did you mean blockSize?)"},
  Case{"IPPool", kName, "{cidr: 198.18.0.0/16, color: blue}",
       "spec.color: unknown field (known fields: cidr, blockSize, ipipMode, vxlanMode, "
       "natOutgoing, disabled, nodeSelector, allowedUses)"}));

INSTANTIATE_TEST_SUITE_P(Ipam, Validation, ::testing::Values(
  Case{"IPAMConfig", "{name: global}", "{}",
       "metadata.name: must be \"default\": there is one IPAMConfig"},
  Case{"IPAMConfig", "{name: default}", "{maxBlocksPerHost: -1}",
       "spec.maxBlocksPerHost: must not be negative (0 = unlimited)"},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/16}",
       "spec.cidr: a block must be between /20 and /32 for IPv4"},
  Case{"IPAMBlock", kName, "{cidr: '2001:db8::/64'}",
       "spec.cidr: a block must be between /116 and /128 for IPv6"},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/26, affinity: node-a}",
       "spec.affinity: must be \"host:<node name>\", got \"node-a\""},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/26, affinity: 'host:Node A'}",
       "spec.affinity: invalid node name \"Node A\": must consist of lower-case letters, digits, "
       "'-' and '.', and start and end with a letter or digit"},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/30, allocations: [null]}",
       "spec.allocations: must have 4 entries (one per address of 198.18.0.0/30), got 1"},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/30, allocations: [0, null, null, null], unallocated: [1, 2, 3]}",
       "spec.allocations[0]: refers to attribute 0, but there are 0 attributes"},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/30, allocations: [null, null, null, null], unallocated: [0, 1, 1, 2]}",
       "spec.unallocated[2]: ordinal 1 is listed twice"},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/30, allocations: [null, null, null, null], unallocated: [9]}",
       "spec.unallocated[0]: ordinal 9 is outside the block (0 to 3)"},
  Case{"IPAMBlock", kName,
       "{cidr: 198.18.0.0/30, allocations: [0, null, null, null], unallocated: [0, 1, 2, 3], attributes: [{handleID: h}]}",
       "spec.unallocated[0]: ordinal 0 is free here but allocated in spec.allocations[0]"},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/30, allocations: [null, null, null, null], unallocated: [0, 1, 2]}",
       "spec.unallocated: ordinal 3 is free in spec.allocations but missing here"},
  Case{"IPAMBlock", kName, "{cidr: 198.18.0.0/30, allocations: [x, null, null, null]}",
       "spec.allocations[0]: must be an integer, got the string \"x\""},
  Case{"IPAMBlock", kName,
       "{cidr: 198.18.0.0/30, allocations: [0, null, null, null], unallocated: [3, 1, 2], attributes: [{handleID: h, secondary: {pod: 1}}]}",
       "spec.attributes[0].secondary.pod: must be a string, got the number 1 (quote it: \"1\")"},
  Case{"BlockAffinity", kName, "{state: done, node: a, cidr: 198.18.0.0/26}",
       "spec.state: must be one of pending, confirmed or pendingDeletion, got the string \"done\""},
  Case{"BlockAffinity", kName, "{state: pending, cidr: 198.18.0.0/26}", "spec.node: is required"},
  Case{"BlockAffinity", kName, "{node: a, cidr: 198.18.0.0/26}", "spec.state: is required"},
  Case{"BlockAffinity", kName, "{state: confirmed, node: a, cidr: 198.18.0.9/26}",
       "spec.cidr: \"198.18.0.9/26\" has host bits set; did you mean 198.18.0.0/26?"},
  Case{"IPAMHandle", kName, "{block: {}}", "spec.handleID: is required"},
  Case{"IPAMHandle", kName, "{handleID: h, block: {nope: 1}}",
       "spec.block.nope: \"nope\" is not a CIDR: expected <address>/<prefix length>"},
  Case{"IPAMHandle", kName, "{handleID: h, block: {198.18.0.0/26: -1}}",
       "spec.block[\"198.18.0.0/26\"]: the count must not be negative"}));

INSTANTIATE_TEST_SUITE_P(NodesAndEndpoints, Validation, ::testing::Values(
  Case{"Node", kName, "{ipv4Address: '2001:db8::1/64'}",
       "spec.ipv4Address: \"2001:db8::1/64\" must be an IPv4 CIDR"},
  Case{"Node", kName, "{ipv6Address: 198.19.0.1/24}",
       "spec.ipv6Address: \"198.19.0.1/24\" must be an IPv6 CIDR"},
  Case{"Node", kName, "{ipv4Address: 198.19.0.300}",
       "spec.ipv4Address: \"198.19.0.300\" is not a valid IP address or CIDR"},
  Case{"Node", kName, "{bgp: {asNumber: 0}}", "spec.bgp.asNumber: must be from 1 to 4294967295"},
  Case{"Node", kName, "{bgp: {asNumber: 4294967296}}",
       "spec.bgp.asNumber: must be an integer from 0 to 4294967295, got 4294967296"},
  Case{"Node", kName, "{bgp: {routeReflectorClusterID: abc}}",
       "spec.bgp.routeReflectorClusterID: \"abc\" is not a valid IP address"},
  Case{"Node", kName, "{bgp: {routeReflectorClusterID: '2001:db8::1'}}",
       "spec.bgp.routeReflectorClusterID: \"2001:db8::1\" must be an IPv4 address"},
  Case{"Node", kName, "{ipipTunnelAddress: '2001:db8::1'}",
       "spec.ipipTunnelAddress: \"2001:db8::1\" must be an IPv4 address"},
  Case{"Node", kName, "{vxlanTunnelAddressV6: 198.18.0.1}",
       "spec.vxlanTunnelAddressV6: \"198.18.0.1\" must be an IPv6 address"},
  Case{"Node", kName, "{vxlanTunnelMAC: '01:00:5e:00:00:01'}",
       "spec.vxlanTunnelMAC: \"01:00:5e:00:00:01\" must be a unicast MAC address"},
  Case{"Node", kName, "{vxlanTunnelMAC: zz}",
       "spec.vxlanTunnelMAC: \"zz\" is not a valid MAC address (expected six hex bytes like "
       "ee:ee:ee:ee:ee:ee)"},
  Case{"Node", kName, "{addresses: []}",
       "spec.addresses: unknown field (known fields: ipv4Address, ipv6Address, bgp, "
       "ipipTunnelAddress, vxlanTunnelAddress, vxlanTunnelAddressV6, vxlanTunnelMAC, "
       "vxlanTunnelMACV6)"},
  Case{"WorkloadEndpoint", kNs, "{node: a, interfaceName: brn0}", "spec.pod: is required"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0123456789abcdef}",
       "spec.interfaceName: \"brn0123456789abcdef\" is not a valid interface name (1 to 15 "
       "letters, digits, '-', '_' or '.')"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: 'brn/0'}",
       "spec.interfaceName: \"brn/0\" is not a valid interface name (1 to 15 letters, digits, "
       "'-', '_' or '.')"},
  Case{"WorkloadEndpoint", kNs, "{node: A, pod: p, interfaceName: brn0}",
       "spec.node: invalid node name \"A\": must consist of lower-case letters, digits, '-' and "
       "'.', and start and end with a letter or digit"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0, ipNetworks: [198.18.0.0/24]}",
       "spec.ipNetworks[0]: \"198.18.0.0/24\" must be a single address (/32)"},
  Case{"WorkloadEndpoint", kNs,
       "{node: a, pod: p, interfaceName: brn0, ipNetworks: [198.18.0.5, 198.18.0.5/32]}",
       "spec.ipNetworks[1]: \"198.18.0.5/32\" is listed twice"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0, mac: 'ff:ff:ff:ff:ff:ff'}",
       "spec.mac: \"ff:ff:ff:ff:ff:ff\" must be a unicast MAC address"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0, ports: [{name: HTTP, port: 80}]}",
       "spec.ports[0].name: \"HTTP\" is not a valid port name: must consist of lower-case "
       "letters, digits and '-'"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0, ports: [{name: '8080', port: 80}]}",
       "spec.ports[0].name: \"8080\" is not a valid port name: must contain at least one letter"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0, ports: [{name: http, port: 0}]}",
       "spec.ports[0].port: must be from 1 to 65535"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0, ports: [{name: http, port: 70000}]}",
       "spec.ports[0].port: must be an integer from 0 to 65535, got 70000"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0, ports: [{name: http}]}",
       "spec.ports[0].port: is required"},
  Case{"WorkloadEndpoint", kNs,
       "{node: a, pod: p, interfaceName: brn0, ports: [{name: http, protocol: ICMP, port: 1}]}",
       "spec.ports[0].protocol: must be one of TCP, UDP or SCTP, got the string \"ICMP\""},
  Case{"WorkloadEndpoint", kNs,
       "{node: a, pod: p, interfaceName: brn0, ports: [{name: web, port: 80}, {name: web, port: 81}]}",
       "spec.ports[1].name: \"web\" is listed twice"},
  Case{"WorkloadEndpoint", kNs, "{node: a, pod: p, interfaceName: brn0, profiles: ['kns shop']}",
       "spec.profiles[0]: invalid profile name \"kns shop\": must consist of lower-case letters, "
       "digits, '-' and '.', and start and end with a letter or digit"}));

INSTANTIATE_TEST_SUITE_P(Policy, Validation, ::testing::Values(
  Case{"NetworkPolicy", kNs, "{ingress: [{protocol: TCP}]}", "spec.ingress[0].action: is required"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: allow}]}",
       "spec.ingress[0].action: must be one of Allow, Deny, Pass or Log, got the string \"allow\" "
       "(names are case-sensitive: write Allow)"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, destination: {ports: [80]}}]}",
       "spec.ingress[0].destination.ports: ports need the rule's protocol to be TCP, UDP, SCTP "
       "or UDPLite"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: ICMP, source: {notPorts: [80]}}]}",
       "spec.ingress[0].source.notPorts: ports need the rule's protocol to be TCP, UDP, SCTP or "
       "UDPLite"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: TCP, destination: {ports: ['90:80']}}]}",
       "spec.ingress[0].destination.ports[0]: \"90:80\" is not a valid port range: the first "
       "port must not be greater than the last"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: TCP, destination: {ports: ['1:70000']}}]}",
       "spec.ingress[0].destination.ports[0]: \"1:70000\" is not a valid port range: expected "
       "first:last with ports from 1 to 65535"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [0]}}]}",
       "spec.ingress[0].destination.ports[0]: must be an integer from 1 to 65535, got 0"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [Web_1]}}]}",
       "spec.ingress[0].destination.ports[0]: \"Web_1\" is not a valid port name: must consist "
       "of lower-case letters, digits and '-'"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [true]}}]}",
       "spec.ingress[0].destination.ports[0]: must be a port number, a range \"first:last\" or "
       "a port name, got true"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, icmp: {type: 8}}]}",
       "spec.ingress[0].icmp: needs the rule's protocol to be ICMP or ICMPv6"},
  Case{"NetworkPolicy", kNs, "{egress: [{action: Allow, protocol: TCP, notICMP: {type: 8}}]}",
       "spec.egress[0].notICMP: needs the rule's protocol to be ICMP or ICMPv6"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: ICMP, icmp: {code: 0}}]}",
       "spec.ingress[0].icmp.code: needs a type as well"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: ICMP, icmp: {type: 255}}]}",
       "spec.ingress[0].icmp.type: must be from 0 to 254"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: ICMP, icmp: {type: 3, code: 256}}]}",
       "spec.ingress[0].icmp.code: must be from 0 to 255"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, ipVersion: 6, protocol: ICMP}]}",
       "spec.ingress[0].protocol: ICMP cannot be used with ipVersion 6 (use ICMPv6)"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, ipVersion: 4, protocol: ICMPv6}]}",
       "spec.ingress[0].protocol: ICMPv6 cannot be used with ipVersion 4 (use ICMP)"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, ipVersion: 5}]}",
       "spec.ingress[0].ipVersion: must be 4 or 6"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: 0}]}",
       "spec.ingress[0].protocol: must be an integer from 1 to 255, got 0"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, protocol: HTTP}]}",
       "spec.ingress[0].protocol: must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a protocol "
       "number from 1 to 255, got the string \"HTTP\""},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, ipVersion: 4, source: {nets: ['2001:db8::/32']}}]}",
       "spec.ingress[0].source.nets[0]: \"2001:db8::/32\" is IPv6 but the rule has ipVersion 4"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, source: {notNets: [198.18.1.1/24]}}]}",
       "spec.ingress[0].source.notNets[0]: \"198.18.1.1/24\" has host bits set; did you mean "
       "198.18.1.0/24?"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, source: {selector: \"app = 'x'\"}}]}",
       "spec.ingress[0].source.selector: selector \"app = 'x'\": column 5: expected '==', '!=', "
       "'in' or 'not in'"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, destination: {namespaceSelector: 'has(a'}}]}",
       "spec.ingress[0].destination.namespaceSelector: selector \"has(a\": column 6: expected "
       "')'"},
  Case{"NetworkPolicy", kNs, "{ingress: [{action: Allow, destinaton: {}}]}",
       "spec.ingress[0].destinaton: unknown field (did you mean destination?)"},
  Case{"NetworkPolicy", kNs, "{selector: 'a ==', ingress: []}",
       "spec.selector: selector \"a ==\": column 5: expected a quoted string"},
  Case{"NetworkPolicy", kNs, "{types: [Ingress, Ingress]}", "spec.types[1]: Ingress is listed twice"},
  Case{"NetworkPolicy", kNs, "{types: [Ingress], egress: [{action: Allow}]}",
       "spec.egress: there are egress rules but spec.types does not include Egress"},
  Case{"NetworkPolicy", kNs, "{types: [Egress], ingress: [{action: Allow}]}",
       "spec.ingress: there are ingress rules but spec.types does not include Ingress"},
  Case{"NetworkPolicy", kNs, "{order: first}", "spec.order: must be a number, got the string \"first\""},
  Case{"NetworkPolicy", kNs, "{order: .inf}", "spec.order: must be a finite number"},
  Case{"NetworkPolicy", kName, "{ingress: {action: Allow}}",
       "spec.ingress: must be a list, got a mapping"},
  Case{"GlobalNetworkPolicy", kName, "{namespaceSelector: 'a in {'}",
       "spec.namespaceSelector: selector \"a in {\": column 7: expected a quoted string"},
  Case{"NetworkSet", kNs, "{nets: [198.18.1.1/24]}",
       "spec.nets[0]: \"198.18.1.1/24\" has host bits set; did you mean 198.18.1.0/24?"},
  Case{"GlobalNetworkSet", kName, "{nets: [nope]}",
       "spec.nets[0]: \"nope\" is not a valid IP address or CIDR"},
  Case{"Profile", kName, "{labelsToApply: {'a b': c}}",
       "spec.labelsToApply[\"a b\"]: invalid label key: the name part must consist of letters, "
       "digits, '-', '_' and '.', and start and end with a letter or digit"},
  Case{"Profile", kName, "{egress: [{action: Deny, protocol: UDP, destination: {ports: ['53:']}}]}",
       "spec.egress[0].destination.ports[0]: \"53:\" is not a valid port range: expected "
       "first:last with ports from 1 to 65535"}));

INSTANTIATE_TEST_SUITE_P(KubernetesNetworkPolicy, Validation, ::testing::Values(
  Case{"KubernetesNetworkPolicy", kNs, "{}", "spec.podSelector: is required"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {matchExpressions: [{key: a, operator: In}]}}",
       "spec.podSelector.matchExpressions[0].values: must not be empty when the operator is In"},
  Case{"KubernetesNetworkPolicy", kNs,
       "{podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}}",
       "spec.podSelector.matchExpressions[0].values: must be empty when the operator is Exists"},
  Case{"KubernetesNetworkPolicy", kNs,
       "{podSelector: {matchExpressions: [{key: a, operator: Equals, values: [x]}]}}",
       "spec.podSelector.matchExpressions[0].operator: must be one of In, NotIn, Exists or "
       "DoesNotExist, got \"Equals\""},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {matchExpressions: [{operator: Exists}]}}",
       "spec.podSelector.matchExpressions[0].key: is required"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {matchLabels: {app: 'a b'}}}",
       "spec.podSelector.matchLabels.app: invalid label value \"a b\": the value must consist of "
       "letters, digits, '-', '_' and '.', and start and end with a letter or digit"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{from: [{}]}]}",
       "spec.ingress[0].from[0]: must set podSelector, namespaceSelector or ipBlock"},
  Case{"KubernetesNetworkPolicy", kNs,
       "{podSelector: {}, ingress: [{from: [{podSelector: {}, ipBlock: {cidr: 198.18.0.0/16}}]}]}",
       "spec.ingress[0].from[0].ipBlock: cannot be combined with podSelector or namespaceSelector"},
  Case{"KubernetesNetworkPolicy", kNs,
       "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 198.18.0.0/16, except: [198.19.0.0/24]}}]}]}",
       "spec.ingress[0].from[0].ipBlock.except[0]: \"198.19.0.0/24\" must lie strictly inside "
       "cidr 198.18.0.0/16"},
  Case{"KubernetesNetworkPolicy", kNs,
       "{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 198.18.0.0/16, except: [198.18.0.0/16]}}]}]}",
       "spec.egress[0].to[0].ipBlock.except[0]: \"198.18.0.0/16\" must lie strictly inside cidr "
       "198.18.0.0/16"},
  Case{"KubernetesNetworkPolicy", kNs,
       "{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 198.18.0.0/16, except: ['2001:db8::/64']}}]}]}",
       "spec.egress[0].to[0].ipBlock.except[0]: \"2001:db8::/64\" must lie strictly inside cidr "
       "198.18.0.0/16"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 198.18.0.0}}]}]}",
       "spec.egress[0].to[0].ipBlock.cidr: \"198.18.0.0\" is not a CIDR: expected <address>/<prefix "
       "length>"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, egress: [{to: [{ipBlock: {}}]}]}",
       "spec.egress[0].to[0].ipBlock.cidr: is required"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}",
       "spec.ingress[0].ports[0].endPort: needs a numeric port (endPort cannot follow a named "
       "port)"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{ports: [{endPort: 90}]}]}",
       "spec.ingress[0].ports[0].endPort: needs a numeric port (endPort cannot follow a named "
       "port)"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}",
       "spec.ingress[0].ports[0].endPort: must be from port (90) to 65535"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{ports: [{port: 0}]}]}",
       "spec.ingress[0].ports[0].port: must be from 1 to 65535"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{ports: [{port: -web}]}]}",
       "spec.ingress[0].ports[0].port: \"-web\" is not a valid port name: must not start or end "
       "with '-' or contain \"--\""},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{ports: [{port: [80]}]}]}",
       "spec.ingress[0].ports[0].port: must be a port number or a port name, got a list"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{ports: [{protocol: tcp, port: 80}]}]}",
       "spec.ingress[0].ports[0].protocol: must be one of TCP, UDP or SCTP, got the string "
       "\"tcp\" (names are case-sensitive: write TCP)"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, policyTypes: [Both]}",
       "spec.policyTypes[0]: must be one of Ingress or Egress, got the string \"Both\""},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{from: [{podselector: {}}]}]}",
       "spec.ingress[0].from[0].podselector: unknown field (did you mean podSelector?)"},
  Case{"KubernetesNetworkPolicy", kNs, "{podSelector: {}, ingress: [{to: []}]}",
       "spec.ingress[0].to: unknown field (known fields: from, ports)"}));

INSTANTIATE_TEST_SUITE_P(BgpAndAgent, Validation, ::testing::Values(
  Case{"BGPConfiguration", "{name: global}", "{}",
       "metadata.name: must be \"default\" (cluster-wide) or \"node.<node name>\" (one node), got "
       "\"global\""},
  Case{"BGPConfiguration", "{name: node.Node_A}", "{}",
       "metadata.name: invalid name \"node.Node_A\": must consist of lower-case letters, digits, "
       "'-' and '.', and start and end with a letter or digit"},
  Case{"BGPConfiguration", "{name: node.a}", "{asNumber: 65000}",
       "spec.asNumber: can only be set in the BGPConfiguration named \"default\""},
  Case{"BGPConfiguration", "{name: node.a}", "{nodeToNodeMeshEnabled: false}",
       "spec.nodeToNodeMeshEnabled: can only be set in the BGPConfiguration named \"default\""},
  Case{"BGPConfiguration", "{name: default}", "{asNumber: 0}",
       "spec.asNumber: must be from 1 to 4294967295"},
  Case{"BGPConfiguration", "{name: default}", "{listenPort: 0}",
       "spec.listenPort: must be from 1 to 65535"},
  Case{"BGPConfiguration", "{name: default}", "{serviceClusterIPs: [{cidr: 198.18.128.1/20}]}",
       "spec.serviceClusterIPs[0].cidr: \"198.18.128.1/20\" has host bits set; did you mean "
       "198.18.128.0/20?"},
  Case{"BGPConfiguration", "{name: default}", "{serviceExternalIPs: [198.18.0.0/24]}",
       "spec.serviceExternalIPs[0]: must be a mapping, got the string \"198.18.0.0/24\""},
  Case{"BGPPeer", kName, "{}", "spec: set peerIP (with asNumber) or peerSelector"},
  Case{"BGPPeer", kName, "{peerIP: 198.19.0.1, peerSelector: all(), asNumber: 1}",
       "spec.peerSelector: cannot be combined with spec.peerIP"},
  Case{"BGPPeer", kName, "{peerIP: 198.19.0.1}", "spec.asNumber: is required with peerIP"},
  Case{"BGPPeer", kName, "{peerSelector: has(rr), asNumber: 64512}",
       "spec.asNumber: must not be set with peerSelector (the selected nodes' AS numbers are "
       "used)"},
  Case{"BGPPeer", kName, "{node: a, nodeSelector: all(), peerIP: 198.19.0.1, asNumber: 1}",
       "spec.nodeSelector: cannot be combined with spec.node"},
  Case{"BGPPeer", kName, "{peerIP: 198.19.0.300, asNumber: 1}",
       "spec.peerIP: \"198.19.0.300\" is not a valid peer address (expected an IP address, "
       "<IPv4>:<port> or [<IPv6>]:<port>)"},
  Case{"BGPPeer", kName, "{peerIP: 198.19.0.1, asNumber: 1, password: {}}",
       "spec.password.secretKeyRef: is required"},
  Case{"BGPPeer", kName, "{peerIP: 198.19.0.1, asNumber: 1, password: {secretKeyRef: {name: s}}}",
       "spec.password.secretKeyRef.key: is required"},
  Case{"BGPPeer", kName,
       "{peerIP: 198.19.0.1, asNumber: 1, password: {secretKeyRef: {name: s, key: 'a/b'}}}",
       "spec.password.secretKeyRef.key: must be 1 to 253 letters, digits, '-', '_' or '.'"},
  Case{"BGPPeer", kName, "{peerIP: 198.19.0.1, asNumber: 1, maxRestartTime: 2 minutes}",
       "spec.maxRestartTime: \"2 minutes\" is not a valid duration (expected e.g. 90s, 1m30s, "
       "500ms, 2h)"},
  Case{"BGPPeer", kName, "{peerSelector: 'has(rr'}",
       "spec.peerSelector: selector \"has(rr\": column 7: expected ')'"},
  Case{"AgentConfiguration", "{name: default}", "{mtu: 100}",
       "spec.mtu: must be 0 (detect) or from 576 to 65535"},
  Case{"AgentConfiguration", "{name: default}", "{logLevel: verbose}",
       "spec.logLevel: must be one of trace, debug, info, warn or error, got the string "
       "\"verbose\""},
  Case{"AgentConfiguration", "{name: default}", "{failsafeInboundHostPorts: [{protocol: TCP, port: 0}]}",
       "spec.failsafeInboundHostPorts[0].port: must be from 1 to 65535"},
  Case{"AgentConfiguration", "{name: default}", "{routeRefreshInterval: 90}",
       "spec.routeRefreshInterval: must be a string, got the number 90 (quote it: \"90\")"},
  Case{"AgentConfiguration", "{name: agent}", "{}",
       "metadata.name: must be \"default\" (cluster-wide) or \"node.<node name>\" (one node), got "
       "\"agent\""}));
// clang-format on

TEST(Envelope, ApiVersionKindAndShape) {
  EXPECT_EQ(error_of("kind: IPPool\nmetadata: {name: a}\n"),
            "apiVersion: is required (brindle.network/v1)");
  EXPECT_EQ(error_of("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\n"),
            "apiVersion: must be brindle.network/v1, got \"projectcalico.org/v3\"");
  EXPECT_EQ(error_of("apiVersion: 1\nkind: IPPool\nmetadata: {name: a}\n"),
            "apiVersion: must be a string, got the number 1 (quote it: \"1\")");
  EXPECT_EQ(error_of("apiVersion: brindle.network/v1\nkind: ippool\nmetadata: {name: a}\n"),
            "kind: unknown kind \"ippool\" (did you mean IPPool?)");
  std::string unknown =
      error_of("apiVersion: brindle.network/v1\nkind: Pool2\nmetadata: {name: a}\n");
  EXPECT_EQ(unknown.rfind("kind: unknown kind \"Pool2\" (known kinds: IPPool, IPAMConfig, ", 0), 0u)
      << unknown;
  EXPECT_EQ(error_of("apiVersion: brindle.network/v1\nmetadata: {name: a}\n"),
            error_of("apiVersion: brindle.network/v1\nkind: null\nmetadata: {name: a}\n"));
  EXPECT_EQ(error_of("apiVersion: brindle.network/v1\nkind: IPPool\n"),
            "metadata: is required (at least metadata.name)");
  EXPECT_EQ(error_of("apiVersion: brindle.network/v1\nkind: IPPool\nmetadata: {name: a}\n"
                     "spec: {cidr: 198.18.0.0/16}\nstatus: {}\n"),
            "status: unknown field (a resource has apiVersion, kind, metadata and spec)");
  EXPECT_EQ(error_of("- a\n- b\n"),
            "a resource must be a mapping with apiVersion, kind, metadata and spec, got a list");
  EXPECT_EQ(error_of("just text\n"),
            "a resource must be a mapping with apiVersion, kind, metadata and spec, got the "
            "string \"just text\"");
  // An absent or null spec is an empty spec.
  EXPECT_EQ(error_of("apiVersion: brindle.network/v1\nkind: IPAMConfig\nmetadata: {name: default}\n"
                     "spec:\n"),
            "");
}

TEST(Envelope, UpstreamKubernetesNetworkPolicyIsAccepted) {
  auto resources = parse_resources_or_throw(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
)",
                                            "upstream.yaml");
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].kind, "KubernetesNetworkPolicy");
  EXPECT_EQ(to_json(resources[0])["apiVersion"], "brindle.network/v1");
  // Only NetworkPolicy is read from that API group.
  EXPECT_EQ(error_of("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: a}\n"),
            "apiVersion: must be brindle.network/v1, got \"networking.k8s.io/v1\"");
}

TEST(Envelope, ValidateAndDefaultThrowsWithPath) {
  Resource r;
  r.kind = "IPPool";
  r.metadata.name = "p";
  r.spec = {{"cidr", "198.18.0.0/16"}, {"blockSize", 40}};
  try {
    validate_and_default(r);
    FAIL();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.path(), "spec.blockSize");
    EXPECT_STREQ(e.what(), "spec.blockSize: must be between 20 and 32 for an IPv4 pool");
  }
  r.kind = "Unknown";
  EXPECT_THROW(validate_and_default(r), ValidationError);
  EXPECT_THROW(resource_from_json_text("{not json"), ValidationError);
}

}  // namespace
}  // namespace brindle::model
