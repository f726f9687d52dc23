// brindlectl's commands. Each returns the process exit status; errors go to stderr.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "session.hpp"

namespace brindle::ctl {

struct GetArgs {
  std::string kind;
  std::string name;
  std::string namespace_;  // empty: "default" for namespaced kinds
  bool all_namespaces = false;
  std::string output = "table";  // table | wide | json | yaml
};
int get_command(const Session& session, const GetArgs& args, std::ostream& out, std::ostream& err);

enum class WriteMode { apply, create, replace };
// `file` "-" reads stdin.
int write_command(const Session& session, WriteMode mode, const std::string& file,
                  std::ostream& out, std::ostream& err);

struct DeleteArgs {
  std::string file;  // or kind + name
  std::string kind;
  std::string name;
  std::string namespace_;
};
int delete_command(const Session& session, const DeleteArgs& args, std::ostream& out,
                   std::ostream& err);

struct IpamShowArgs {
  bool show_blocks = false;
  std::string ip;
};
int ipam_show_command(const Session& session, const IpamShowArgs& args, std::ostream& out,
                      std::ostream& err);
int ipam_check_command(const Session& session, const std::string& report_file, std::ostream& out,
                       std::ostream& err);
struct IpamReleaseArgs {
  std::vector<std::string> ips;
  std::string from_report;
};
int ipam_release_command(const Session& session, const IpamReleaseArgs& args, std::ostream& out,
                         std::ostream& err);

struct PolicyTraceArgs {
  std::string from;  // "ns/pod" or an address
  std::string to;
  std::string port = "80/tcp";
};
int policy_trace_command(const Session& session, const PolicyTraceArgs& args, std::ostream& out,
                         std::ostream& err);

// Asks the local brindled over its control socket (no datastore needed).
// json: the daemon's whole status document instead of the summary.
int node_status_command(const std::string& socket_path, bool json, std::ostream& out,
                        std::ostream& err);

}  // namespace brindle::ctl
