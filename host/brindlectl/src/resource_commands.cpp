// get / apply / create / replace / delete.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "brindle/ipam/ipam.hpp"
#include "brindle/model/parse.hpp"
#include "brindle/model/registry.hpp"
#include "commands.hpp"
#include "output.hpp"

namespace brindle::ctl {
namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string describe(const model::Resource& r) {
  return lower(r.kind) + "/" + (r.metadata.namespace_.empty() ? "" : r.metadata.namespace_ + "/") +
         r.metadata.name;
}

datastore::Key key_of(const model::Resource& r) {
  return {r.kind, r.metadata.namespace_, r.metadata.name};
}

const model::KindInfo* kind_or_error(const std::string& name, std::ostream& err) {
  const model::KindInfo* kind = model::find_kind(name);
  if (kind == nullptr) {
    std::string known;
    for (const auto& k : model::all_kinds()) {
      known += (known.empty() ? "" : ", ") + std::string(k.kind);
    }
    err << "error: unknown resource kind \"" << name << "\"; known kinds: " << known << "\n";
  }
  return kind;
}

// The files named by -f: the file itself, or every .yaml/.yml/.json file of a directory (sorted).
std::vector<std::string> input_files(const std::string& file) {
  if (file == "-" || !std::filesystem::is_directory(file)) {
    return {file};
  }
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(file)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
      out.push_back(entry.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_input(const std::string& file) {
  if (file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error(file + ": cannot be read");
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int get_command(const Session& session, const GetArgs& args, std::ostream& out, std::ostream& err) {
  const model::KindInfo* kind = kind_or_error(args.kind, err);
  if (kind == nullptr) {
    return 1;
  }
  std::string ns;
  if (kind->namespaced && !args.all_namespaces) {
    ns = args.namespace_.empty() ? "default" : args.namespace_;
  }
  std::vector<model::Resource> resources;
  auto add = [&](const datastore::Stored& s) {
    try {
      resources.push_back(model::resource_from_json_text(s.json));
    } catch (const std::exception& e) {
      err << "warning: skipping invalid stored " << s.key.to_string() << ": " << e.what() << "\n";
    }
  };
  if (!args.name.empty()) {
    auto s = session.client().get({std::string(kind->kind), ns, args.name});
    if (!s) {
      err << "error: " << lower(std::string(kind->kind)) << " \"" << args.name << "\" not found"
          << (ns.empty() ? "" : " in namespace \"" + ns + "\"") << "\n";
      return 1;
    }
    add(*s);
  } else {
    for (const auto& s : session.client().list(kind->kind, ns).items) {
      add(s);
    }
  }
  if (args.output == "table" || args.output == "wide") {
    if (resources.empty() && args.name.empty()) {
      err << "No resources found" << (ns.empty() ? "" : " in " + ns + " namespace") << ".\n";
      return 0;
    }
    out << model::render_table(*kind, resources, args.output == "wide",
                               kind->namespaced && args.all_namespaces);
    return 0;
  }
  if (args.output == "json") {
    if (!args.name.empty()) {
      out << model::to_json(resources.front()).dump(2) << "\n";
    } else {
      nlohmann::json list = {
          {"apiVersion", model::kApiVersion}, {"kind", "List"}, {"items", nlohmann::json::array()}};
      for (const auto& r : resources) {
        list["items"].push_back(model::to_json(r));
      }
      out << list.dump(2) << "\n";
    }
    return 0;
  }
  if (args.output == "yaml") {
    bool first = true;
    for (const auto& r : resources) {
      out << (first ? "" : "---\n") << to_yaml(model::to_json(r));
      first = false;
    }
    return 0;
  }
  err << "error: unknown output format \"" << args.output << "\" (table, wide, json, yaml)\n";
  return 1;
}

int write_command(const Session& session, WriteMode mode, const std::string& file,
                  std::ostream& out, std::ostream& err) {
  model::ParseResult parsed;
  for (const std::string& f : input_files(file)) {
    model::ParseResult one = model::parse_resources(read_input(f), f == "-" ? "<stdin>" : f);
    parsed.resources.insert(parsed.resources.end(), one.resources.begin(), one.resources.end());
    parsed.errors.insert(parsed.errors.end(), one.errors.begin(), one.errors.end());
  }
  if (!parsed.errors.empty()) {
    // Nothing is written when any document is invalid: a half-applied file is worse.
    for (const auto& e : parsed.errors) {
      err << "error: " << e.what() << "\n";
    }
    err << "error: " << parsed.errors.size() << " invalid document(s); nothing was changed\n";
    return 1;
  }
  int failures = 0;
  for (model::Resource r : parsed.resources) {
    const model::KindInfo* kind = model::find_kind(r.kind);
    if (kind != nullptr && kind->namespaced && r.metadata.namespace_.empty()) {
      r.metadata.namespace_ = "default";
    }
    try {
      const datastore::Key key = key_of(r);
      std::optional<datastore::Stored> existing;
      if (mode != WriteMode::create) {
        existing = session.client().get(key);
      }
      if (mode == WriteMode::replace && !existing) {
        err << "error: " << describe(r) << " not found; use create or apply\n";
        ++failures;
        continue;
      }
      if (!existing) {
        r.metadata.revision.clear();
        session.client().create(key, model::to_json_text(r));
        out << describe(r) << " created\n";
        continue;
      }
      model::Resource stored = model::resource_from_json_text(existing->json);
      // Server-owned metadata is kept; a revision given in the file is honoured (optimistic
      // concurrency), otherwise the current one is used.
      const std::string revision =
          r.metadata.revision.empty() ? existing->revision : r.metadata.revision;
      r.metadata.uid = stored.metadata.uid;
      r.metadata.creation_timestamp = stored.metadata.creation_timestamp;
      r.metadata.revision.clear();
      stored.metadata.revision.clear();
      if (model::to_json_text(stored) == model::to_json_text(r)) {
        out << describe(r) << " unchanged\n";
        continue;
      }
      session.client().update(key, model::to_json_text(r), revision);
      out << describe(r) << (mode == WriteMode::apply ? " configured\n" : " replaced\n");
    } catch (const datastore::DatastoreError& e) {
      err << "error: " << describe(r) << ": " << e.what() << "\n";
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

int delete_command(const Session& session, const DeleteArgs& args, std::ostream& out,
                   std::ostream& err) {
  std::vector<datastore::Key> keys;
  if (!args.file.empty()) {
    model::ParseOptions options;
    options.validate = false;  // deleting needs only kind and name
    std::vector<model::Resource> resources;
    for (const std::string& f : input_files(args.file)) {
      auto one = model::parse_resources_or_throw(read_input(f), f == "-" ? "<stdin>" : f, options);
      resources.insert(resources.end(), one.begin(), one.end());
    }
    for (const auto& r : resources) {
      const model::KindInfo* kind = model::find_kind(r.kind);
      keys.push_back({r.kind,
                      kind != nullptr && kind->namespaced && r.metadata.namespace_.empty()
                          ? "default"
                          : r.metadata.namespace_,
                      r.metadata.name});
    }
  } else {
    const model::KindInfo* kind = kind_or_error(args.kind, err);
    if (kind == nullptr) {
      return 1;
    }
    keys.push_back({std::string(kind->kind),
                    kind->namespaced ? (args.namespace_.empty() ? "default" : args.namespace_) : "",
                    args.name});
  }
  int failures = 0;
  for (const auto& key : keys) {
    const std::string what =
        lower(key.kind) + "/" + (key.namespace_.empty() ? "" : key.namespace_ + "/") + key.name;
    try {
      session.client().remove(key, {});
      out << what << " deleted\n";
      if (key.kind == "Node") {
        // Like calicoctl: a node that leaves gives its blocks back (in-use blocks stay, unaffine).
        const int released = ipam::Ipam(session.client()).release_node_affinities(key.name);
        if (released > 0) {
          out << "released " << released << " block affinit" << (released == 1 ? "y" : "ies")
              << " of node " << key.name << "\n";
        }
      }
    } catch (const datastore::DatastoreError& e) {
      err << "error: " << what << (e.not_found() ? " not found" : ": " + std::string(e.what()))
          << "\n";
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace brindle::ctl
