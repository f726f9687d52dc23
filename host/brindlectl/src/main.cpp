// brindlectl: the operator CLI. Loads the datastore plugin named in brindle.toml, as brindled does.
//
//   brindlectl [--config FILE] [--plugin-dir DIR]... COMMAND ...
#include <cstdlib>
#include <iostream>

#include <boost/program_options.hpp>

#include "brindle/build_info.hpp"
#include "brindle/common/log.hpp"
#include "brindle/config/config.hpp"
#include "brindle/ipam/ipam.hpp"
#include "brindle/loader/plugin_library.hpp"
#include "brindle/model/errors.hpp"
#include "commands.hpp"

namespace po = boost::program_options;
using namespace brindle;

namespace {

constexpr const char* kUsage = R"(Usage: brindlectl [GLOBAL OPTIONS] COMMAND [ARGS]

Commands:
  get KIND [NAME] [-n NS | -A] [-o table|wide|json|yaml]
                             show resources (KIND: ippool, node, networkpolicy, ... or aliases)
  apply -f FILE|-            create or update every resource in a YAML/JSON file
  create -f FILE|-           create resources (fails if one exists)
  replace -f FILE|-          replace existing resources
  delete -f FILE|-           delete the resources named in a file
  delete KIND NAME [-n NS]   delete one resource
  ipam show [--show-blocks] [--ip ADDR]
                             address usage per pool (and block), or who holds ADDR
  ipam check [-o REPORT]     find leaked addresses and inconsistent handles (exit 1 if any)
  ipam release --ip ADDR... | --from-report REPORT
                             release addresses (and handles) found by ipam check
  policy trace --from NS/POD|IP --to NS/POD|IP [--port 80/tcp|53/udp|icmp/8]
                             which policies and rules apply in each direction, and the verdict
  node status [-o json]      this node's brindled: readiness, policy and routing (BGP) peers
  version                    print versions

Global options:
)";

// Runs `body`, turning every error into a message on stderr and exit status 1.
template <typename Body>
int guarded(Body&& body) {
  try {
    return body();
  } catch (const config::ConfigError& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (const loader::LoadError& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (const model::DocumentError& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (const datastore::DatastoreError& e) {
    std::cerr << "error: datastore: " << e.what() << "\n";
  } catch (const ipam::IpamError& e) {
    std::cerr << "error: ipam: " << e.what() << "\n";
  } catch (const po::error& e) {
    std::cerr << "error: " << e.what() << " (see brindlectl --help)\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
  }
  return 1;
}

po::variables_map parse_sub(const std::vector<std::string>& args, const po::options_description& d,
                            const po::positional_options_description& p) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).positional(p).run(), vm);
  po::notify(vm);
  return vm;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded([&]() -> int {
    ctl::SessionOptions session_options;
    std::string config_file;
    std::vector<std::string> plugin_dirs;
    std::string log_level = "warn";
    // Read once: checked, then used.
    const char* config_from_env = std::getenv("BRINDLE_CONFIG");
    po::options_description global("Global options");
    global.add_options()("help,h", "show this help")(
        "config,c",
        po::value(&config_file)
            ->default_value(config_from_env != nullptr ? config_from_env
                                                       : build_info::kDefaultConfig),
        "brindle.toml to read the datastore from (env BRINDLE_CONFIG)")(
        "plugin-dir", po::value(&plugin_dirs)->composing(),
        "extra plugin directory searched first (repeatable)")(
        "log-level", po::value(&log_level)->default_value("warn"),
        "plugin log level on stderr: trace, debug, info, warn, error");
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>())(
        "args", po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(global).add(hidden);
    po::positional_options_description pos;
    pos.add("command", 1).add("args", -1);
    po::variables_map vm;
    po::parsed_options parsed =
        po::command_line_parser(argc, argv).options(all).positional(pos).allow_unregistered().run();
    po::store(parsed, vm);
    po::notify(vm);
    std::vector<std::string> rest =
        po::collect_unrecognized(parsed.options, po::include_positional);
    if (vm.count("help") != 0 || !vm.count("command")) {
      std::cout << kUsage;
      std::cout << global << "\n";
      return vm.count("help") != 0 ? 0 : 1;
    }
    const auto level = log::parse_level(log_level);
    if (!level) {
      std::cerr << "error: --log-level: \"" << log_level
                << "\" is not one of trace, debug, info, warn, error\n";
      return 1;
    }
    log::logger().set_level(*level);
    const std::string command = vm["command"].as<std::string>();
    rest.erase(rest.begin());  // the command itself
    session_options.config_file = config_file;
    for (const auto& d : plugin_dirs) {
      session_options.extra_plugin_dirs.emplace_back(d);
    }

    if (command == "version") {
      std::cout << "brindlectl " << build_info::kVersion << " (plugin ABI "
                << BRINDLE_ABI_VERSION_MAJOR << "." << BRINDLE_ABI_VERSION_MINOR << ")\n";
      return 0;
    }
    if (command == "get") {
      ctl::GetArgs a;
      po::options_description d;
      d.add_options()("kind", po::value(&a.kind)->required())("name", po::value(&a.name))(
          "namespace,n", po::value(&a.namespace_))("all-namespaces,A",
                                                   po::bool_switch(&a.all_namespaces))(
          "output,o", po::value(&a.output)->default_value("table"));
      po::positional_options_description p;
      p.add("kind", 1).add("name", 1);
      parse_sub(rest, d, p);
      ctl::Session session(session_options);
      return ctl::get_command(session, a, std::cout, std::cerr);
    }
    if (command == "apply" || command == "create" || command == "replace") {
      std::string file;
      po::options_description d;
      d.add_options()("filename,f", po::value(&file)->required());
      parse_sub(rest, d, {});
      ctl::Session session(session_options);
      const ctl::WriteMode mode = command == "apply"    ? ctl::WriteMode::apply
                                  : command == "create" ? ctl::WriteMode::create
                                                        : ctl::WriteMode::replace;
      return ctl::write_command(session, mode, file, std::cout, std::cerr);
    }
    if (command == "delete") {
      ctl::DeleteArgs a;
      po::options_description d;
      d.add_options()("filename,f", po::value(&a.file))("kind", po::value(&a.kind))(
          "name", po::value(&a.name))("namespace,n", po::value(&a.namespace_));
      po::positional_options_description p;
      p.add("kind", 1).add("name", 1);
      parse_sub(rest, d, p);
      if (a.file.empty() && (a.kind.empty() || a.name.empty())) {
        std::cerr << "error: delete needs -f FILE or KIND NAME\n";
        return 1;
      }
      ctl::Session session(session_options);
      return ctl::delete_command(session, a, std::cout, std::cerr);
    }
    if (command == "ipam") {
      if (rest.empty()) {
        std::cerr << "error: ipam needs a subcommand: show, check, release\n";
        return 1;
      }
      const std::string sub = rest.front();
      rest.erase(rest.begin());
      if (sub == "show") {
        ctl::IpamShowArgs a;
        po::options_description d;
        d.add_options()("show-blocks", po::bool_switch(&a.show_blocks))("ip", po::value(&a.ip));
        parse_sub(rest, d, {});
        ctl::Session session(session_options);
        return ctl::ipam_show_command(session, a, std::cout, std::cerr);
      }
      if (sub == "check") {
        std::string report;
        po::options_description d;
        d.add_options()("output,o", po::value(&report));
        parse_sub(rest, d, {});
        ctl::Session session(session_options);
        return ctl::ipam_check_command(session, report, std::cout, std::cerr);
      }
      if (sub == "release") {
        ctl::IpamReleaseArgs a;
        po::options_description d;
        d.add_options()("ip", po::value(&a.ips)->composing())("from-report",
                                                              po::value(&a.from_report));
        parse_sub(rest, d, {});
        if (a.ips.empty() && a.from_report.empty()) {
          std::cerr << "error: ipam release needs --ip ADDR or --from-report FILE\n";
          return 1;
        }
        ctl::Session session(session_options);
        return ctl::ipam_release_command(session, a, std::cout, std::cerr);
      }
      std::cerr << "error: unknown ipam subcommand \"" << sub << "\" (show, check, release)\n";
      return 1;
    }
    if (command == "node") {
      if (rest.empty() || rest.front() != "status") {
        std::cerr << "error: node needs a subcommand: status\n";
        return 1;
      }
      rest.erase(rest.begin());
      std::string output = "table";
      po::options_description d;
      d.add_options()("output,o", po::value(&output));
      parse_sub(rest, d, {});
      if (output != "table" && output != "json") {
        std::cerr << "error: unknown output format \"" << output << "\" (table, json)\n";
        return 1;
      }
      // Only the control socket path is needed from the configuration.
      const config::Config cfg = config::load_config(config_file);
      return ctl::node_status_command(cfg.control_socket, output == "json", std::cout, std::cerr);
    }
    if (command == "policy") {
      if (rest.empty() || rest.front() != "trace") {
        std::cerr << "error: policy needs a subcommand: trace\n";
        return 1;
      }
      rest.erase(rest.begin());
      ctl::PolicyTraceArgs a;
      po::options_description d;
      d.add_options()("from", po::value(&a.from)->required())("to", po::value(&a.to)->required())(
          "port", po::value(&a.port)->default_value("80/tcp"));
      parse_sub(rest, d, {});
      ctl::Session session(session_options);
      return ctl::policy_trace_command(session, a, std::cout, std::cerr);
    }
    std::cerr << "error: unknown command \"" << command << "\" (see brindlectl --help)\n";
    return 1;
  });
}
