// The control-socket protocol and the CNI spec helpers, without sockets or namespaces.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brindle/cni/protocol.hpp"
#include "brindle/cni/spec.hpp"

namespace brindle::cni {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

Request sample_add() {
  Request request;
  request.method = Method::add;
  Params& p = request.params;
  p.cni_version = "0.4.0";
  p.network_name = "brindle";
  p.config = {{"cniVersion", "0.4.0"},
              {"name", "brindle"},
              {"type", "brindle-cni"},
              {"runtimeConfig", {{"ips", {"198.18.0.9/32"}}}}};
  p.container_id = "c0ffee";
  p.netns = "/run/netns/x";
  p.ifname = "eth0";
  p.args = {{"K8S_POD_NAMESPACE", "ns1"}, {"K8S_POD_NAME", "web-0"}};
  p.mtu = 1450;
  return request;
}

int decode_error_code(std::string_view line) {
  try {
    decode_request(line);
  } catch (const ProtocolError& e) {
    return e.code();
  }
  return 0;
}

std::string decode_error_message(std::string_view line) {
  try {
    decode_request(line);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "";
}

TEST(CniProtocol, AddRequestRoundTripsAsOneLine) {
  std::string line = encode_request(sample_add());
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  json wire = json::parse(line);
  EXPECT_EQ(wire["version"], kProtocolVersion);
  EXPECT_EQ(wire["method"], "cni.add");
  EXPECT_EQ(wire["params"]["args"]["K8S_POD_NAME"], "web-0");

  Request decoded = decode_request(line);
  EXPECT_EQ(decoded.method, Method::add);
  EXPECT_EQ(decoded.params.container_id, "c0ffee");
  EXPECT_EQ(decoded.params.netns, "/run/netns/x");
  EXPECT_EQ(decoded.params.ifname, "eth0");
  EXPECT_EQ(decoded.params.cni_version, "0.4.0");
  EXPECT_EQ(decoded.params.network_name, "brindle");
  EXPECT_EQ(decoded.params.mtu, 1450u);
  EXPECT_EQ(decoded.params.pod_namespace(), "ns1");
  EXPECT_EQ(decoded.params.pod_name(), "web-0");
  EXPECT_EQ(decoded.params.arg("MISSING"), std::nullopt);
  EXPECT_EQ(decoded.params.runtime_config()["ips"][0], "198.18.0.9/32");
  EXPECT_FALSE(decoded.params.prev_result().has_value());
}

TEST(CniProtocol, DelWithoutNetnsAndGcAttachmentsDecode) {
  Request del;
  del.method = Method::del;
  del.params.cni_version = "1.0.0";
  del.params.container_id = "abc";
  del.params.ifname = "eth0";
  Request decoded = decode_request(encode_request(del));
  EXPECT_EQ(decoded.method, Method::del);
  EXPECT_TRUE(decoded.params.netns.empty());

  Request gc;
  gc.method = Method::gc;
  gc.params.cni_version = "1.1.0";
  gc.params.valid_attachments = {{"a", "eth0"}, {"b", "net1"}};
  Request gc_decoded = decode_request(encode_request(gc));
  EXPECT_EQ(gc_decoded.method, Method::gc);
  EXPECT_EQ(gc_decoded.params.valid_attachments, gc.params.valid_attachments);
}

TEST(CniProtocol, RequestErrorsCarryCodesAndNameTheMember) {
  EXPECT_EQ(decode_error_code("{not json"), errors::kDecodingFailure);
  EXPECT_EQ(decode_error_code("[1,2]"), errors::kDecodingFailure);
  EXPECT_EQ(decode_error_code(R"({"version":2,"method":"cni.add","params":{}})"),
            errors::kIncompatibleVersion);
  EXPECT_EQ(decode_error_code(R"({"version":1,"method":"cni.nope","params":{}})"),
            errors::kProtocolError);
  std::string wrong_type =
      R"({"version":1,"method":"cni.add","params":{"cni_version":"1.0.0","container_id":7,)"
      R"("ifname":"eth0","netns":"/x"}})";
  EXPECT_EQ(decode_error_code(wrong_type), errors::kDecodingFailure);
  EXPECT_THAT(decode_error_message(wrong_type), HasSubstr("params.container_id"));
  std::string no_netns =
      R"({"version":1,"method":"cni.check","params":{"cni_version":"1.0.0","container_id":"a",)"
      R"("ifname":"eth0"}})";
  EXPECT_THAT(decode_error_message(no_netns), HasSubstr("params.netns"));
  std::string bad_arg =
      R"({"version":1,"method":"cni.del","params":{"cni_version":"1.0.0","container_id":"a",)"
      R"("ifname":"eth0","args":{"K8S_POD_NAME":3}}})";
  EXPECT_THAT(decode_error_message(bad_arg), HasSubstr("params.args.K8S_POD_NAME"));
}

Result sample_result() {
  Result result;
  result.interfaces = {{"brv0123456789a", "ee:ee:ee:ee:ee:ee", "", std::nullopt},
                       {"eth0", "02:00:00:00:00:01", "/run/netns/x", 1450}};
  result.ips = {{"198.18.0.5/32", std::nullopt, 1}, {"2001:db8::5/128", std::nullopt, 1}};
  result.routes = {{"0.0.0.0/0", "169.254.1.1"}, {"::/0", "fe80::ecee:eeff:feee:eeee"}};
  result.dns.nameservers = {"198.18.255.10"};
  return result;
}

TEST(CniProtocol, ResponsesRoundTrip) {
  Response ok = decode_response(encode_response(Response::success(sample_result())));
  ASSERT_TRUE(ok.ok);
  EXPECT_EQ(ok.result, sample_result());

  Response failure = decode_response(
      encode_response(Response::failure(errors::kAddressesExhausted, "pool full", "no block")));
  ASSERT_FALSE(failure.ok);
  EXPECT_EQ(failure.error.code, errors::kAddressesExhausted);
  EXPECT_EQ(failure.error.message, "pool full");
  EXPECT_EQ(failure.error.details, "no block");
}

TEST(CniProtocol, ErrorsUseTheControlApiShape) {
  json wire = json::parse(
      encode_response(Response::failure(errors::kAddressesExhausted, "pool full", "no block")));
  EXPECT_EQ(wire["ok"], false);
  EXPECT_EQ(wire["error"]["code"], "addresses_exhausted");
  EXPECT_EQ(wire["error"]["cni_code"], 100);
  EXPECT_EQ(wire["error"]["details"], "no block");

  // A daemon that sends only the control API's names, or only the integer, is understood too.
  auto code_of = [](std::string_view line) { return decode_response(line).error.code; };
  EXPECT_EQ(code_of(R"({"ok":false,"error":{"code":"plumbing_failed","message":"m"}})"), 102);
  EXPECT_EQ(code_of(R"({"ok":false,"error":{"code":"unknown_method","message":"m"}})"),
            errors::kProtocolError);
  EXPECT_EQ(code_of(R"({"ok":false,"error":{"code":"unsupported_version","message":"m"}})"), 1);
  EXPECT_EQ(code_of(R"({"ok":false,"error":{"code":"not_ready","message":"m"}})"), 11);
  EXPECT_EQ(code_of(R"({"ok":false,"error":{"code":"frobnicated","message":"m"}})"),
            errors::kDaemonInternal);
  EXPECT_EQ(code_of(R"({"ok":false,"error":{"code":51,"message":"m"}})"), 51);
  EXPECT_EQ(code_of(R"({"ok":false,"error":{"code":"internal","cni_code":104,"message":"m"}})"),
            104);
  for (int code : {1, 3, 4, 6, 7, 11, 50, 51, 100, 101, 102, 103, 104, 105, 110}) {
    EXPECT_EQ(error_code_from_name(error_name(code)), code) << code;
  }
  EXPECT_EQ(error_name(999), "cni_error");
}

TEST(CniProtocol, ParamsAloneForControlServers) {
  Request add = sample_add();
  json params = encode_params(Method::add, add.params);
  Params decoded = decode_params(Method::add, params);
  EXPECT_EQ(decoded.container_id, "c0ffee");
  EXPECT_EQ(decoded.mtu, 1450u);
  EXPECT_THROW(decode_params(Method::check, json::array()), ProtocolError);
  EXPECT_THROW(decode_params(Method::add, json{{"cni_version", "1.0.0"}}), ProtocolError);
  // STATUS carries no attachment.
  Params status = decode_params(Method::status, json{{"cni_version", "1.1.0"}});
  EXPECT_TRUE(status.container_id.empty());
}

TEST(CniProtocol, MalformedResponsesAreRejectedNamingTheMember) {
  auto message_of = [](std::string_view line) -> std::string {
    try {
      decode_response(line);
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.code(), errors::kProtocolError);
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(message_of("nope"), HasSubstr("not valid JSON"));
  EXPECT_THAT(message_of(R"({"result":{}})"), HasSubstr("reply.ok"));
  EXPECT_THAT(message_of(R"({"ok":true,"result":{"interfaces":[],"ips":[{"address":"x"}]}})"),
              HasSubstr("result.ips[0].address"));
  EXPECT_THAT(message_of(R"({"ok":true,"result":{"interfaces":[{"name":"eth0"}],)"
                         R"("ips":[{"address":"198.18.0.1/32","interface":1}]}})"),
              HasSubstr("result.ips[0].interface"));
  EXPECT_THAT(message_of(R"({"ok":false,"error":{"message":"m"}})"), HasSubstr("reply.error.code"));
}

TEST(CniSpec, ResultFormatFollowsTheRequestedVersion) {
  for (std::string_view version : supported_versions()) {
    SCOPED_TRACE(std::string(version));
    json result = format_result(sample_result(), version);
    EXPECT_EQ(result["cniVersion"], version);
    ASSERT_EQ(result["ips"].size(), 2u);
    bool before_1_0 = version.front() == '0';
    EXPECT_EQ(result["ips"][0].contains("version"), before_1_0);
    if (before_1_0) {
      EXPECT_EQ(result["ips"][0]["version"], "4");
      EXPECT_EQ(result["ips"][1]["version"], "6");
    }
    EXPECT_EQ(result["ips"][0]["interface"], 1);
    EXPECT_EQ(result["interfaces"][1]["sandbox"], "/run/netns/x");
    EXPECT_FALSE(result["interfaces"][0].contains("sandbox"));
    EXPECT_EQ(result["interfaces"][1].contains("mtu"), version == "1.1.0");
    EXPECT_EQ(result["routes"][1]["gw"], "fe80::ecee:eeff:feee:eeee");
    EXPECT_EQ(result["dns"]["nameservers"][0], "198.18.255.10");
  }
}

TEST(CniSpec, VersionsAndCommands) {
  EXPECT_TRUE(is_supported_version("0.3.1"));
  EXPECT_FALSE(is_supported_version("0.2.0"));
  EXPECT_FALSE(is_supported_version("1.0"));
  EXPECT_LT(compare_versions("0.4.0", "1.0.0"), 0);
  EXPECT_GT(compare_versions("0.10.0", "0.4.0"), 0);
  EXPECT_EQ(compare_versions("1.1.0", "1.1.0"), 0);
  EXPECT_FALSE(command_allowed("CHECK", "0.3.1"));
  EXPECT_TRUE(command_allowed("CHECK", "0.4.0"));
  EXPECT_FALSE(command_allowed("STATUS", "1.0.0"));
  EXPECT_TRUE(command_allowed("GC", "1.1.0"));
  EXPECT_FALSE(command_allowed("FROB", "1.1.0"));
  json info = format_version_info("0.4.0");
  EXPECT_EQ(info["cniVersion"], "0.4.0");
  EXPECT_EQ(info["supportedVersions"].size(), supported_versions().size());
  json error = format_error(7, "bad", "", "1.0.0");
  EXPECT_EQ(error["code"], 7);
  EXPECT_FALSE(error.contains("details"));
}

TEST(CniSpec, CniArgsParse) {
  auto args = parse_cni_args("IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;;K8S_POD_NAME=a=b");
  ASSERT_EQ(args.size(), 3u);
  EXPECT_EQ(args[2].first, "K8S_POD_NAME");
  EXPECT_EQ(args[2].second, "a=b");
  EXPECT_TRUE(parse_cni_args("").empty());
  try {
    parse_cni_args("A=1;garbage");
    FAIL() << "no error";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code(), errors::kInvalidEnvironment);
    EXPECT_THAT(e.what(), HasSubstr("garbage"));
  }
}

TEST(CniSpec, NameRules) {
  EXPECT_FALSE(container_id_problem("0123abc_d.e-f"));
  EXPECT_TRUE(container_id_problem(""));
  EXPECT_TRUE(container_id_problem("-abc"));
  EXPECT_TRUE(container_id_problem("a/b"));
  EXPECT_FALSE(interface_name_problem("eth0"));
  EXPECT_TRUE(interface_name_problem("0123456789abcdef"));
  EXPECT_TRUE(interface_name_problem(".."));
  EXPECT_TRUE(interface_name_problem("eth 0"));
  EXPECT_TRUE(interface_name_problem("eth:0"));
  EXPECT_FALSE(network_name_problem("k8s-pod-network"));
  EXPECT_TRUE(network_name_problem("bad name"));
}

}  // namespace
}  // namespace brindle::cni
