// Reconciliation of the policy model with the kernel: see dataplane.hpp.
#include "dataplane.hpp"

#include <algorithm>
#include <iterator>

namespace brindle::policy_iptables {
namespace {

bool ours(const std::string& name) {
  return name.rfind(kPrefix, 0) == 0;
}

ipset::SetType set_type(brindle_ipset_type_t type) {
  return type == BRINDLE_IPSET_NET_PORT ? ipset::SetType::kNetPort : ipset::SetType::kNet;
}

bool has_ports(const RuleMatch& m) {
  return !m.ports.empty() || !m.not_ports.empty();
}

void validate_rules(const Policy& policy, const std::vector<Rule>& rules, const char* direction) {
  for (const Rule& r : rules) {
    if ((has_ports(r.source) || has_ports(r.destination)) && !protocol_has_ports(r.protocol)) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                  "policy " + policy.id + " " + direction + " rule " + r.id +
                      ": ports need protocol tcp, udp, sctp, udplite or dccp (got " +
                      std::to_string(r.protocol) + ")");
    }
    if (r.ip_version != 0 && r.ip_version != 4 && r.ip_version != 6) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "policy " + policy.id + " " + direction + " rule " +
                                                    r.id + ": ip_version must be 0, 4 " +
                                                    "or 6, got " + std::to_string(r.ip_version));
    }
  }
}

}  // namespace

Dataplane::Dataplane(Host host, Options options)
    : host_(host),
      options_(options),
      applies_(host.counter("applies_total", "apply() calls")),
      commits_(host.counter("table_commits_total", "iptables table commits (one per table)")),
      repairs_(host.counter("repairs_total", "chains or sets refresh() found tampered")) {}

void Dataplane::set_globals(const PolicyGlobals& globals) {
  if (globals.interface_prefix.size() >= 15) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "interface_prefix \"" + globals.interface_prefix + "\" is too long");
  }
  globals_ = globals;
}

std::set<std::string> Dataplane::member_texts(const ModelSet& set,
                                              const std::vector<IpSetMember>& members) const {
  std::set<std::string> out;
  for (const IpSetMember& m : members) {
    if (m.net.family() != set.info.family) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "ipset member " + m.net.to_string() +
                                                    " is not of the set's family IPv" +
                                                    std::to_string(set.info.family));
    }
    for (std::string& text : ipset::member_texts(m.net, set.info.type, m.protocol, m.port)) {
      out.insert(std::move(text));
    }
  }
  return out;
}

void Dataplane::upsert_ipset(const IpSet& set) {
  if (set.id.empty()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "ipset id is empty");
  }
  if (set.family != 4 && set.family != 6) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "ipset " + set.id + ": family must be 4 or 6, got " + std::to_string(set.family));
  }
  ModelSet next;
  next.info = {set_kernel_name(set.id), set_type(set.type), set.family};
  next.members = member_texts(next, set.members);
  const auto programmed = programmed_.find(next.info.kernel_name);
  if (programmed != programmed_.end() && programmed->second != next.members) {
    programmed_.erase(programmed);  // rebuilt aside and swapped in at apply()
  }
  sets_[set.id] = std::move(next);
}

void Dataplane::update_ipset_members(std::string_view id, const std::vector<IpSetMember>& added,
                                     const std::vector<IpSetMember>& removed) {
  const auto it = sets_.find(std::string(id));
  if (it == sets_.end()) {
    throw Error(BRINDLE_ERR_NOT_FOUND, "ipset " + std::string(id) + " is not known");
  }
  // Both are validated before either is applied.
  const std::set<std::string> to_add = member_texts(it->second, added);
  const std::set<std::string> to_remove = member_texts(it->second, removed);
  for (const std::string& m : to_remove) {
    it->second.members.erase(m);
  }
  it->second.members.insert(to_add.begin(), to_add.end());
}

void Dataplane::remove_ipset(std::string_view id) {
  sets_.erase(std::string(id));
}

void Dataplane::upsert_policy(const Policy& policy) {
  if (policy.id.empty()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "policy id is empty");
  }
  validate_rules(policy, policy.ingress, "ingress");
  validate_rules(policy, policy.egress, "egress");
  (policy.kind == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_)[policy.id] = policy;
}

void Dataplane::remove_policy(brindle_policy_kind_t kind, std::string_view id) {
  (kind == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_).erase(std::string(id));
}

void Dataplane::upsert_endpoint(const Endpoint& endpoint) {
  if (endpoint.interface.empty() || endpoint.interface.size() > 15) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "endpoint " + endpoint.id + ": interface \"" +
                                                  endpoint.interface +
                                                  "\" must be 1 to 15 characters");
  }
  endpoints_[endpoint.id] = endpoint;
}

void Dataplane::remove_endpoint(std::string_view id) {
  endpoints_.erase(std::string(id));
}

void Dataplane::in_sync() {
  in_sync_ = true;
}

void Dataplane::apply() {
  applies_.add(1);
  reconcile(false);
}

void Dataplane::refresh() {
  reconcile(true);
}

void Dataplane::reconcile(bool verify) {
  ipset::Session session;
  std::set<std::string> kernel_sets;
  for (std::string& name : session.list_names()) {
    if (ours(name)) {
      kernel_sets.insert(std::move(name));
    }
  }

  std::map<std::string, SetInfo> infos;
  for (const auto& [id, set] : sets_) {
    infos.emplace(id, set.info);
  }
  const ModelView view{globals_, infos, policies_, profiles_, endpoints_};
  std::vector<std::pair<xt::Family, Rendered>> rendered;
  rendered.emplace_back(xt::Family::kV4, render(view, xt::Family::kV4, options_));
  if (options_.ipv6) {
    rendered.emplace_back(xt::Family::kV6, render(view, xt::Family::kV6, options_));
  }

  // ---- sets, before any rule that uses them
  struct Desired {
    ipset::SetHeader header;
    const std::set<std::string>* members;
    bool internal;
  };
  std::map<std::string, Desired> desired;
  for (const auto& [id, set] : sets_) {
    desired.emplace(
        set.info.kernel_name,
        Desired{
            {set.info.type, set.info.family, options_.ipset_max_elements}, &set.members, false});
  }
  for (const auto& [family, r] : rendered) {
    for (const auto& [name, set] : r.internal_sets) {
      desired.emplace(name, Desired{{ipset::SetType::kNet, set.family, options_.ipset_max_elements},
                                    &set.members,
                                    true});
    }
  }
  std::map<std::string, const std::set<std::string>*> now_known;
  std::vector<std::string> now_unknown;
  size_t repaired = 0;
  auto apply_diff = [&](const std::string& name, const std::set<std::string>& have,
                        const std::set<std::string>& want) {
    std::vector<std::string> extra;
    std::vector<std::string> missing;
    std::set_difference(have.begin(), have.end(), want.begin(), want.end(),
                        std::back_inserter(extra));
    std::set_difference(want.begin(), want.end(), have.begin(), have.end(),
                        std::back_inserter(missing));
    for (const std::string& m : extra) {
      session.remove(name, m);
    }
    for (const std::string& m : missing) {
      session.add(name, m);
    }
    return !extra.empty() || !missing.empty();
  };
  for (const auto& [name, d] : desired) {
    const auto programmed = programmed_.find(name);
    if (!kernel_sets.contains(name)) {
      session.create(name, d.header);
      for (const std::string& m : *d.members) {
        session.add(name, m);
      }
      now_known[name] = d.members;
    } else if (!in_sync_) {
      // A previous run's set: add what we know, remove nothing yet.
      for (const std::string& m : *d.members) {
        session.add(name, m);
      }
      now_unknown.push_back(name);
    } else if (verify) {
      if (apply_diff(name, session.members(name), *d.members)) {
        ++repaired;
        host_.warn("ipset content differed from the model; repaired", "set=" + name);
      }
      now_known[name] = d.members;
    } else if (programmed != programmed_.end()) {
      apply_diff(name, programmed->second, *d.members);
      now_known[name] = d.members;
    } else if (d.internal) {
      now_known[name] = d.members;  // named after its content
    } else {
      // Unknown or replaced content: built aside, then swapped in atomically.
      const std::string temporary = temporary_set_name(name);
      if (kernel_sets.contains(temporary)) {
        session.destroy(temporary);
      }
      session.create(temporary, d.header);
      for (const std::string& m : *d.members) {
        session.add(temporary, m);
      }
      session.swap(temporary, name);
      session.destroy(temporary);
      kernel_sets.erase(temporary);
      now_known[name] = d.members;
    }
  }
  session.run();
  for (const auto& [name, members] : now_known) {
    programmed_[name] = *members;
  }
  for (const std::string& name : now_unknown) {
    programmed_.erase(name);
  }
  if (!in_sync_) {
    return;  // the previous run's rules stay until the model is complete
  }

  // ---- rules: one atomic commit per table and family
  for (const auto& [family, r] : rendered) {
    for (const auto& [table, rules] : {std::pair{"filter", &r.filter}, std::pair{"nat", &r.nat}}) {
      const size_t rewritten = program_table(family, table, *rules);
      if (verify && rewritten > 0) {
        repaired += rewritten;
        host_.warn("iptables chains differed from the model; repaired",
                   "family=" + std::to_string(static_cast<int>(family)) + " table=" + table +
                       " chains=" + std::to_string(rewritten));
      }
    }
  }
  if (verify && repaired > 0) {
    repairs_.add(static_cast<double>(repaired));
  }

  // ---- sets no rule uses any more
  for (const std::string& name : kernel_sets) {
    if (desired.contains(name)) {
      continue;
    }
    session.destroy(name);
    try {
      session.run();
      programmed_.erase(name);
    } catch (const Error& e) {
      // Still referenced (e.g. by a rule that is not ours): kept, retried next time.
      host_.warn("cannot destroy a stale ipset", "set=" + name + " reason=\"" + e.what() + "\"");
    }
  }
}

size_t Dataplane::program_table(xt::Family family, const std::string& table_name,
                                const TableRules& rules) {
  std::map<std::string, uint16_t> indexes;
  xt::Table table(family, table_name, [&indexes](const std::string& set) {
    const auto it = indexes.find(set);
    return it != indexes.end() ? it->second : indexes[set] = ipset::kernel_index(set);
  });
  for (const auto& [chain, chain_rules] : rules.chains) {
    if (!table.has_chain(chain)) {
      table.create_chain(chain);
    }
  }
  size_t rewritten = 0;
  std::string rewritten_names;  // the first few, for the log
  auto note = [&](const std::string& chain) {
    if (++rewritten <= 8) {
      rewritten_names += (rewritten_names.empty() ? "" : ",") + chain;
    }
  };
  for (const auto& [chain, chain_rules] : rules.chains) {
    if (table.same_rules(chain, chain_rules)) {
      continue;
    }
    table.flush_chain(chain);
    for (const xt::Rule& rule : chain_rules) {
      table.append(chain, rule);
    }
    note(chain);
  }

  // Our jump first in each built-in chain, and no other rule of a built-in chain jumping to us.
  const std::vector<std::string> all_chains = table.chains();
  for (const std::string& chain : all_chains) {
    if (!table.is_builtin(chain)) {
      continue;
    }
    std::optional<xt::Rule> jump;
    for (const auto& [builtin, target] : rules.builtin_jumps) {
      if (builtin == chain) {
        jump = xt::Rule{};
        jump->target = xt::Jump{target, false};
      }
    }
    const std::vector<std::string> targets = table.targets(chain);
    const size_t ours_count = std::count_if(targets.begin(), targets.end(), ours);
    const bool in_place =
        jump ? ours_count == 1 && table.rule_is(chain, 0, *jump) : ours_count == 0;
    if (in_place) {
      continue;
    }
    for (size_t i = targets.size(); i-- > 0;) {
      if (ours(targets[i])) {
        table.delete_rule(chain, static_cast<unsigned>(i));
      }
    }
    if (jump) {
      table.insert(chain, *jump, 0);
    }
    note(chain);
  }

  // Our chains the model no longer has: emptied first (dropping their jumps), then deleted.
  std::vector<std::string> stale;
  for (const std::string& chain : all_chains) {
    if (ours(chain) && !table.is_builtin(chain) && !rules.chains.contains(chain)) {
      stale.push_back(chain);
    }
  }
  for (const std::string& chain : stale) {
    table.flush_chain(chain);
  }
  for (const std::string& chain : stale) {
    if (table.references(chain) == 0) {
      table.delete_chain(chain);
    } else {
      host_.warn("stale chain still referenced by a rule that is not ours; left empty",
                 "chain=" + chain);
    }
  }
  if (table.changed()) {
    table.commit();
    commits_.add(1);
    host_.debug("iptables table committed",
                "family=" + std::to_string(static_cast<int>(family)) + " table=" + table_name +
                    " chains_rewritten=" + std::to_string(rewritten) +
                    " first=" + (rewritten_names.empty() ? "-" : rewritten_names) +
                    " chains_removed=" + std::to_string(stale.size()));
  }
  return rewritten;
}

}  // namespace brindle::policy_iptables
