// ipam show / check / release.
#include <fstream>
#include <iomanip>
#include <sstream>

#include "brindle/ipam/check.hpp"
#include "brindle/ipam/ipam.hpp"
#include "commands.hpp"

namespace brindle::ctl {
namespace {

std::string with_percent(uint64_t part, uint64_t total) {
  const uint64_t pct = total == 0 ? 0 : (part * 100 + total / 2) / total;
  return std::to_string(part) + " (" + std::to_string(pct) + "%)";
}

// A bordered table like calicoctl's.
std::string render_box(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) {
    width[i] = header[i].size();
    for (const auto& r : rows) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  std::ostringstream out;
  auto rule = [&] {
    out << "+";
    for (size_t w : width) {
      out << std::string(w + 2, '-') << "+";
    }
    out << "\n";
  };
  auto line = [&](const std::vector<std::string>& cells) {
    out << "|";
    for (size_t i = 0; i < cells.size(); ++i) {
      out << " " << std::left << std::setw(static_cast<int>(width[i])) << cells[i] << " |";
    }
    out << "\n";
  };
  rule();
  line(header);
  rule();
  for (const auto& r : rows) {
    line(r);
  }
  rule();
  return out.str();
}

}  // namespace

int ipam_show_command(const Session& session, const IpamShowArgs& args, std::ostream& out,
                      std::ostream& err) {
  ipam::Ipam ipam(session.client());
  if (!args.ip.empty()) {
    const auto address = model::IpAddress::try_parse(args.ip);
    if (!address) {
      err << "error: --ip: \"" << args.ip << "\" is not an IP address\n";
      return 1;
    }
    const ipam::AddressInfo info = ipam.describe(*address);
    if (!info.pool) {
      out << "IP " << args.ip << " is not in any pool\n";
      return 0;
    }
    if (!info.allocated) {
      out << "IP " << args.ip << " is not assigned (pool " << info.pool->to_string()
          << (info.block ? ", block " + info.block->to_string() : std::string(", no block yet"))
          << ")\n";
      return 0;
    }
    out << "IP " << args.ip << " is in use\n";
    out << "  pool:     " << info.pool->to_string() << "\n";
    out << "  block:    " << info.block->to_string()
        << (info.affinity.empty() ? "" : " (" + info.affinity + ")") << "\n";
    out << "  handle:   " << info.handle_id << "\n";
    for (const auto& [k, v] : info.attributes) {
      out << "  " << k << ": " << v << "\n";
    }
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const ipam::PoolUsage& p : ipam.usage()) {
    rows.push_back({"IP Pool", p.pool.cidr.to_string(), std::to_string(p.pool.total),
                    with_percent(p.pool.in_use, p.pool.total),
                    with_percent(p.pool.total - p.pool.in_use, p.pool.total)});
    if (args.show_blocks) {
      for (const ipam::Usage& b : p.blocks) {
        rows.push_back({"Block", b.cidr.to_string(), std::to_string(b.total),
                        with_percent(b.in_use, b.total),
                        with_percent(b.total - b.in_use, b.total)});
      }
    }
  }
  out << render_box({"GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"}, rows);
  return 0;
}

int ipam_check_command(const Session& session, const std::string& report_file, std::ostream& out,
                       std::ostream& err) {
  const ipam::Store store(session.client());
  const ipam::CheckReport report = ipam::check(store);
  out << "Checked " << report.allocated << " allocated addresses and " << report.handles
      << " handles.\n";
  out << "Found " << report.leaked.size() << " leaked address(es) (allocated, no endpoint).\n";
  for (const auto& r : report.leaked) {
    out << "  " << r.address.to_string() << " handle=" << r.handle_id << "\n";
  }
  out << "Found " << report.handles_without_addresses.size() << " handle(s) without addresses.\n";
  for (const auto& h : report.handles_without_addresses) {
    out << "  " << h << "\n";
  }
  out << "Found " << report.addresses_without_handles.size() << " address(es) without a handle.\n";
  for (const auto& r : report.addresses_without_handles) {
    out << "  " << r.address.to_string() << " handle=" << r.handle_id << "\n";
  }
  if (!report_file.empty()) {
    std::ofstream f(report_file);
    f << report.to_json().dump(2) << "\n";
    if (!f) {
      err << "error: cannot write report " << report_file << "\n";
      return 1;
    }
    out << "Report written to " << report_file
        << "; release with: brindlectl ipam release --from-report " << report_file << "\n";
  }
  return report.clean() ? 0 : 1;
}

int ipam_release_command(const Session& session, const IpamReleaseArgs& args, std::ostream& out,
                         std::ostream& err) {
  ipam::Ipam ipam(session.client());
  std::vector<model::IpAddress> addresses;
  std::vector<std::string> handles;
  for (const auto& ip : args.ips) {
    auto a = model::IpAddress::try_parse(ip);
    if (!a) {
      err << "error: --ip: \"" << ip << "\" is not an IP address\n";
      return 1;
    }
    addresses.push_back(*a);
  }
  if (!args.from_report.empty()) {
    std::ifstream f(args.from_report);
    if (!f) {
      err << "error: " << args.from_report << ": cannot be read\n";
      return 1;
    }
    ipam::CheckReport report;
    try {
      report = ipam::CheckReport::from_json(nlohmann::json::parse(f));
    } catch (const std::exception& e) {
      err << "error: " << args.from_report << ": " << e.what() << "\n";
      return 1;
    }
    for (const auto& r : report.leaked) {
      addresses.push_back(r.address);
    }
    for (const auto& r : report.addresses_without_handles) {
      addresses.push_back(r.address);
    }
    handles = report.handles_without_addresses;
  }
  const auto released = ipam.release_addresses(addresses);
  for (const auto& a : released) {
    out << "released " << a.to_string() << "\n";
  }
  for (const auto& h : handles) {
    ipam.release_by_handle(h);
    out << "deleted handle " << h << "\n";
  }
  if (released.size() < addresses.size()) {
    err << (addresses.size() - released.size()) << " address(es) were not allocated\n";
  }
  return 0;
}

}  // namespace brindle::ctl
