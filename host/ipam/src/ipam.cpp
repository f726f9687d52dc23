#include "brindle/ipam/ipam.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "brindle/model/selector.hpp"

namespace brindle::ipam {

using datastore::DatastoreError;
using model::IpAddress;
using model::IpFamily;
using model::IpPrefix;

struct Ipam::PoolView {
  std::string name;
  IpPrefix cidr;
  int block_size = 0;
};

namespace {

constexpr const char* kAffinityPrefix = "host:";

int default_block_size(const model::IPPoolSpec& spec) {
  if (spec.block_size != 0) {
    return spec.block_size;
  }
  return spec.cidr.is_v4() ? 26 : 122;
}

// The block `address` falls in, for a pool with `block_size`.
IpPrefix block_of(const IpAddress& address, int block_size) {
  return IpPrefix(address, block_size).masked();
}

// Resource names allow lower-case alphanumerics, '-' and '.'; handle ids are kept verbatim in
// the spec and only the name is made safe.
std::string handle_resource_name(const std::string& handle_id) {
  std::string name;
  name.reserve(handle_id.size());
  for (char c : handle_id) {
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    name += (std::isalnum(static_cast<unsigned char>(lower)) != 0 || lower == '-' || lower == '.')
                ? lower
                : '-';
  }
  while (!name.empty() && (name.front() == '-' || name.front() == '.')) {
    name.erase(name.begin());
  }
  if (name.size() > 253) {
    name.resize(253);
  }
  return name.empty() ? "handle" : name;
}

[[noreturn]] void datastore_failure(const DatastoreError& e) {
  throw IpamError(IpamError::Code::datastore, e.what());
}

// Runs `attempt` until it returns true, pausing between tries; `attempt` returns false on a
// compare-and-swap conflict. Gives up with conflict_retries.
template <typename Attempt>
void with_retries(int max_retries, const std::function<void(int)>& pause, const std::string& what,
                  Attempt&& attempt) {
  for (int i = 0; i < max_retries; ++i) {
    try {
      if (attempt()) {
        return;
      }
    } catch (const DatastoreError& e) {
      if (!e.conflict() && !e.already_exists() && !e.not_found()) {
        datastore_failure(e);
      }
    }
    pause(i);
  }
  throw IpamError(IpamError::Code::conflict_retries,
                  what + ": gave up after " + std::to_string(max_retries) + " conflicting updates");
}

// Frees unreferenced attributes and renumbers the allocations that point at the rest.
void compact_attributes(model::IPAMBlockSpec& block) {
  std::vector<int32_t> remap(block.attributes.size(), -1);
  std::vector<model::AllocationAttribute> kept;
  for (auto& slot : block.allocations) {
    if (!slot) {
      continue;
    }
    const auto idx = static_cast<size_t>(*slot);
    if (remap[idx] < 0) {
      remap[idx] = static_cast<int32_t>(kept.size());
      kept.push_back(block.attributes[idx]);
    }
    slot = remap[idx];
  }
  block.attributes = std::move(kept);
}

uint64_t in_use(const model::IPAMBlockSpec& block) {
  return static_cast<uint64_t>(std::count_if(block.allocations.begin(), block.allocations.end(),
                                             [](const auto& a) { return a.has_value(); }));
}

// A seed per Ipam from a per-thread generator: std::random_device costs a CPUID (a VM exit) or a
// read of /dev/urandom each time, and an Ipam is made per request.
uint64_t fresh_seed() {
  thread_local std::mt19937_64 seeds{std::random_device{}()};
  return seeds();
}

}  // namespace

Ipam::Ipam(const datastore::Client& client, Options options)
    : store_(client), options_(options), jitter_state_(fresh_seed()) {}

void Ipam::retry_pause(int attempt) {
  // Randomised so that racing agents spread out; grows slowly with the attempt number.
  jitter_state_ = jitter_state_ * 6364136223846793005ULL + 1442695040888963407ULL;
  const auto max_us = options_.retry_jitter.count() * (1 + attempt / 10);
  if (max_us > 0) {
    std::this_thread::sleep_for(std::chrono::microseconds((jitter_state_ >> 33) % max_us));
  }
}

model::IPAMConfigSpec Ipam::config() {
  try {
    auto c = store_.get<model::IPAMConfigSpec>("default");
    return c ? c->doc.spec : model::IPAMConfigSpec{};
  } catch (const DatastoreError& e) {
    if (e.code() == BRINDLE_ERR_INVALID_ARGUMENT) {
      return {};
    }
    datastore_failure(e);
  }
}

std::vector<Ipam::PoolView> Ipam::usable_pools(const AssignRequest& request, IpFamily family,
                                               const std::vector<IpPrefix>& restrict_to) {
  model::Labels labels;
  if (request.node_labels) {
    labels = *request.node_labels;
  } else {
    try {
      if (auto node = store_.get<model::NodeSpec>(request.node)) {
        labels = node->doc.metadata.labels;
      }
    } catch (const DatastoreError& e) {
      if (e.code() != BRINDLE_ERR_INVALID_ARGUMENT) {
        datastore_failure(e);
      }
    }
  }
  std::vector<model::IPPool> pools;
  if (request.known_pools) {
    pools = *request.known_pools;
  }
  std::vector<PoolView> out = pools_matching(pools, request, family, restrict_to, labels);
  if (out.empty()) {
    try {
      pools.clear();
      for (auto& p : store_.list<model::IPPoolSpec>()) {
        pools.push_back(std::move(p.doc));
      }
    } catch (const DatastoreError& e) {
      datastore_failure(e);
    }
    out = pools_matching(pools, request, family, restrict_to, labels);
  }
  return out;
}

std::vector<Ipam::PoolView> Ipam::pools_matching(const std::vector<model::IPPool>& pools,
                                                 const AssignRequest& request, IpFamily family,
                                                 const std::vector<IpPrefix>& restrict_to,
                                                 const model::Labels& labels) {
  std::vector<PoolView> out;
  for (const model::IPPool& p : pools) {
    const model::IPPoolSpec& spec = p.spec;
    if (spec.disabled || spec.cidr.family() != family) {
      continue;
    }
    if (!spec.allowed_uses.empty() && std::find(spec.allowed_uses.begin(), spec.allowed_uses.end(),
                                                request.use) == spec.allowed_uses.end()) {
      continue;
    }
    if (!restrict_to.empty() &&
        std::none_of(restrict_to.begin(), restrict_to.end(),
                     [&](const IpPrefix& r) { return r.masked() == spec.cidr.masked(); })) {
      continue;
    }
    if (restrict_to.empty() && !spec.node_selector.empty() &&
        !model::Selector::parse(spec.node_selector).matches(labels)) {
      continue;
    }
    out.push_back({p.metadata.name, spec.cidr.masked(), default_block_size(spec)});
  }
  std::sort(out.begin(), out.end(),
            [](const PoolView& a, const PoolView& b) { return a.cidr < b.cidr; });
  return out;
}

void Ipam::ensure_handle(const std::string& handle_id, const IpPrefix& block, int delta,
                         bool drop) {
  const std::string name = handle_resource_name(handle_id);
  const std::string block_key = block.to_string();
  handles_.erase(name);  // written below without keeping what was stored
  bool first_attempt = true;
  with_retries(
      options_.max_retries, [this](int a) { retry_pause(a); }, "update handle " + handle_id,
      [&] {
        model::IPAMHandle fresh;
        fresh.metadata.name = name;
        fresh.spec.handle_id = handle_id;
        fresh.spec.block[block_key] = delta;
        if (delta > 0 && !drop && first_attempt) {
          // Nearly every handle is new (one per container): create it without reading first.
          first_attempt = false;
          try {
            store_.create(fresh);
            return true;
          } catch (const DatastoreError& e) {
            if (!e.already_exists()) {
              throw;
            }
          }
        }
        auto current = store_.get<model::IPAMHandleSpec>(name);
        if (!current) {
          if (delta <= 0 || drop) {
            return true;
          }
          store_.create(fresh);
          return true;
        }
        model::IPAMHandle doc = current->doc;
        int32_t& count = doc.spec.block[block_key];
        count += delta;
        if (count <= 0 || drop) {
          doc.spec.block.erase(block_key);
        }
        if (doc.spec.block.empty()) {
          store_.remove<model::IPAMHandleSpec>(name, current->revision);
        } else {
          store_.update(doc, current->revision);
        }
        return true;
      });
}

Ipam::WriteOutcome Ipam::write_block_and_handle(const Versioned<model::IPAMBlockSpec>* block,
                                                const IpPrefix& cidr, const std::string& handle_id,
                                                int delta, bool drop,
                                                const std::vector<datastore::TxnOp>* extras,
                                                std::vector<datastore::Stored>* extra_stored) {
  const std::string name = handle_resource_name(handle_id);
  if (!store_.supports_txn()) {
    // Single writes, in the order that is safe if the process stops between them (see ipam.hpp).
    // Extra operations need a transaction: the callers do not pass them here.
    const bool allocating = delta > 0 && !drop;
    if (allocating) {
      ensure_handle(handle_id, cidr, delta);
    }
    if (block != nullptr) {
      try {
        written_blocks_[cidr] = {block->revision, store_.update(block->doc, block->revision)};
      } catch (const DatastoreError& e) {
        if (!e.conflict() && !e.not_found()) {
          throw;
        }
        if (allocating) {
          ensure_handle(handle_id, cidr, -delta);  // nothing was allocated after all
        }
        return WriteOutcome::block_changed;
      }
    }
    if (!allocating) {
      ensure_handle(handle_id, cidr, delta, drop);
    }
    return WriteOutcome::written;
  }

  // One transaction: the block and the handle are both written or neither is, so no stop of the
  // process can separate an address from its handle (nor a handle entry from its addresses).
  const std::string block_key = cidr.to_string();
  for (int attempt = 0; attempt < options_.max_retries; ++attempt) {
    const auto known = handles_.find(name);
    if (known == handles_.end() && (delta <= 0 || drop)) {
      // Taking from a handle: what it holds must be read (allocations assume a new handle).
      handles_[name] = store_.get<model::IPAMHandleSpec>(name);
      continue;
    }
    const std::optional<Versioned<model::IPAMHandleSpec>> current =
        known != handles_.end() ? known->second : std::nullopt;
    std::vector<datastore::TxnOp> ops;
    bool handle_removed = false;
    if (!current) {
      if (delta > 0 && !drop) {
        model::IPAMHandle fresh;
        fresh.metadata.name = name;
        fresh.spec.handle_id = handle_id;
        fresh.spec.block[block_key] = delta;
        ops.push_back(Store::create_op(fresh));
      }
    } else {
      model::IPAMHandle doc = current->doc;
      int32_t& count = doc.spec.block[block_key];
      count += delta;
      if (count <= 0 || drop) {
        doc.spec.block.erase(block_key);
      }
      if (doc.spec.block.empty()) {
        ops.push_back(Store::remove_op<model::IPAMHandleSpec>(name, current->revision));
        handle_removed = true;
      } else {
        ops.push_back(Store::update_op(doc, current->revision));
      }
    }
    const size_t handle_ops = ops.size();
    if (block != nullptr) {
      ops.push_back(Store::update_op(block->doc, block->revision));
    }
    const size_t own_ops = ops.size();
    if (extras != nullptr) {
      ops.insert(ops.end(), extras->begin(), extras->end());
    }
    if (ops.empty()) {
      return WriteOutcome::written;  // dropping the entry of a handle that is gone
    }
    std::vector<datastore::Stored> stored;
    try {
      stored = store_.txn(ops);
    } catch (const DatastoreError& e) {
      if (!e.op_index() || (!e.conflict() && !e.not_found() && !e.already_exists())) {
        throw;
      }
      if (*e.op_index() >= own_ops) {
        return WriteOutcome::extras_refused;  // the caller's view is stale: nothing was written
      }
      if (*e.op_index() >= handle_ops) {
        return WriteOutcome::block_changed;  // nothing was written
      }
      // The handle was not what we thought (an earlier attempt of this request, or a retried
      // CNI ADD, created it): read it and try again with the same block.
      handles_[name] = store_.get<model::IPAMHandleSpec>(name);
      continue;
    }
    if (handle_ops == 0 || handle_removed) {
      handles_[name] = std::nullopt;
    } else {
      handles_[name] = Store::decode<model::IPAMHandleSpec>(stored.front());
    }
    if (block != nullptr) {
      // The stored block is the one just sent with the datastore's revision (uid and creation time
      // are the stored object's, which the copy already carries): no need to decode it again.
      Versioned<model::IPAMBlockSpec> now{block->doc, stored[handle_ops].revision};
      now.doc.metadata.revision = now.revision;
      written_blocks_[cidr] = {block->revision, std::move(now)};
    }
    if (extra_stored != nullptr) {
      extra_stored->assign(stored.begin() + static_cast<std::ptrdiff_t>(own_ops), stored.end());
    }
    return WriteOutcome::written;
  }
  throw IpamError(IpamError::Code::conflict_retries,
                  "update handle " + handle_id + ": gave up after " +
                      std::to_string(options_.max_retries) + " conflicting updates");
}

std::vector<IpPrefix> Ipam::allocate_in_block(const IpPrefix& block, int count,
                                              const AssignRequest& request, bool require_affinity,
                                              Finisher* finisher) {
  const std::string name = model::block_name(block);
  std::vector<IpPrefix> allocated;
  enum class Outcome { written, nothing, conflict };
  auto try_block = [&](const std::optional<Versioned<model::IPAMBlockSpec>>& current) {
    allocated.clear();
    if (!current || current->doc.spec.deleted) {
      return Outcome::nothing;
    }
    Versioned<model::IPAMBlockSpec> next = *current;
    model::IPAMBlock& doc = next.doc;
    if (require_affinity && doc.spec.affinity != kAffinityPrefix + request.node) {
      return Outcome::nothing;  // the block is no longer ours
    }
    const int n = std::min<int>(count, static_cast<int>(doc.spec.unallocated.size()));
    if (n == 0) {
      return Outcome::nothing;
    }
    model::AllocationAttribute attribute{request.handle_id, request.attributes};
    auto it = std::find(doc.spec.attributes.begin(), doc.spec.attributes.end(), attribute);
    int32_t index = static_cast<int32_t>(it - doc.spec.attributes.begin());
    if (it == doc.spec.attributes.end()) {
      doc.spec.attributes.push_back(attribute);
    }
    for (int i = 0; i < n; ++i) {
      // The head of the free list has been free the longest: recently released addresses are
      // reused last, so a reused address never meets state left for its previous owner.
      const int32_t ordinal = doc.spec.unallocated.front();
      doc.spec.unallocated.erase(doc.spec.unallocated.begin());
      doc.spec.allocations[static_cast<size_t>(ordinal)] = index;
      allocated.emplace_back(*block.address_at(static_cast<uint64_t>(ordinal)),
                             block.prefix_length());
    }
    // The addresses and the handle's count for them: both written or neither. The write that
    // completes the request carries the caller's extra operations.
    std::vector<datastore::TxnOp> extras;
    const bool finishing =
        finisher != nullptr && finisher->outcome == ExtraOps::not_written && n == count;
    if (finishing) {
      extras = finisher->build(allocated);
    }
    WriteOutcome outcome = write_block_and_handle(&next, block, request.handle_id, n, false,
                                                  finishing ? &extras : nullptr,
                                                  finishing ? &finisher->stored : nullptr);
    if (outcome == WriteOutcome::extras_refused) {
      finisher->outcome = ExtraOps::refused;  // the allocation goes on without them
      outcome = write_block_and_handle(&next, block, request.handle_id, n, false);
    } else if (outcome == WriteOutcome::written && finishing) {
      finisher->outcome = ExtraOps::written;
    }
    if (outcome != WriteOutcome::written) {
      allocated.clear();
      return Outcome::conflict;  // the block changed meanwhile: read it again
    }
    return Outcome::written;
  };
  const Versioned<model::IPAMBlockSpec>* known = nullptr;
  if (request.known_blocks) {
    auto it = request.known_blocks->find(block.masked());
    if (it != request.known_blocks->end()) {
      known = &it->second;
    }
  }
  with_retries(
      options_.max_retries, [this](int a) { retry_pause(a); }, "allocate in " + name,
      [&] {
        if (const auto* copy = std::exchange(known, nullptr)) {
          if (try_block(*copy) == Outcome::written) {
            return true;
          }
          // Stale, or nothing to do by the copy: decide on the stored block, without a pause.
        }
        return try_block(store_.get<model::IPAMBlockSpec>(name)) != Outcome::conflict;
      });
  return allocated;
}

std::optional<IpPrefix> Ipam::claim_block(const PoolView& pool, const std::string& node) {
  std::set<IpPrefix> existing;
  try {
    for (const auto& b : store_.list<model::IPAMBlockSpec>()) {
      existing.insert(b.doc.spec.cidr.masked());
    }
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  const int extra_bits = pool.block_size - pool.cidr.prefix_length();
  // Per-node pseudo-random order, so racing nodes rarely try the same block.
  std::mt19937_64 rng(std::hash<std::string>{}(node));
  std::vector<uint64_t> order;
  const bool enumerable = extra_bits <= 20;
  if (enumerable) {
    order.resize(uint64_t{1} << extra_bits);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
  } else {
    // Too many blocks to enumerate (large IPv6 pools): a bounded pseudo-random sample.
    std::uniform_int_distribution<uint64_t> pick(
        0, extra_bits >= 64 ? UINT64_MAX : (uint64_t{1} << extra_bits) - 1);
    for (int i = 0; i < 4096; ++i) {
      order.push_back(pick(rng));
    }
  }
  const uint64_t block_addresses = IpPrefix(pool.cidr.address(), pool.block_size).size();
  for (uint64_t ordinal : order) {
    // ordinal * block size, computed as an offset from the pool's network address.
    std::optional<IpAddress> start;
    if (block_addresses != UINT64_MAX && ordinal <= UINT64_MAX / block_addresses) {
      start = pool.cidr.network().plus(ordinal * block_addresses);
    }
    if (!start) {
      continue;
    }
    const IpPrefix block(*start, pool.block_size);
    if (existing.count(block) != 0) {
      continue;
    }
    // 1. pending affinity (ours from an earlier, interrupted claim is reused)
    const std::string affinity_name = model::block_affinity_name(node, block);
    Versioned<model::BlockAffinitySpec> affinity;
    try {
      model::BlockAffinity doc;
      doc.metadata.name = affinity_name;
      doc.spec.state = model::AffinityState::kPending;
      doc.spec.node = node;
      doc.spec.cidr = block;
      try {
        affinity = store_.create(doc);
      } catch (const DatastoreError& e) {
        if (!e.already_exists()) {
          throw;
        }
        auto found = store_.get<model::BlockAffinitySpec>(affinity_name);
        if (!found) {
          continue;
        }
        affinity = *found;
      }
      // 2. the block itself; whoever creates it first owns it
      model::IPAMBlock block_doc;
      block_doc.metadata.name = model::block_name(block);
      block_doc.spec.cidr = block;
      block_doc.spec.affinity = kAffinityPrefix + node;
      block_doc.spec.allocations.assign(block_addresses, std::nullopt);
      block_doc.spec.unallocated.resize(block_addresses);
      std::iota(block_doc.spec.unallocated.begin(), block_doc.spec.unallocated.end(), 0);
      try {
        store_.create(block_doc);
      } catch (const DatastoreError& e) {
        if (!e.already_exists()) {
          throw;
        }
        existing.insert(block);
        // Another node won: drop our pending affinity and try the next candidate.
        try {
          store_.remove<model::BlockAffinitySpec>(affinity_name, affinity.revision);
        } catch (const DatastoreError&) {
        }
        continue;
      }
      // 3. confirmed
      with_retries(
          options_.max_retries, [this](int a) { retry_pause(a); }, "confirm " + affinity_name,
          [&] {
            auto current = store_.get<model::BlockAffinitySpec>(affinity_name);
            model::BlockAffinity doc2 = current ? current->doc : affinity.doc;
            doc2.spec.state = model::AffinityState::kConfirmed;
            if (current) {
              store_.update(doc2, current->revision);
            } else {
              doc2.metadata.revision.clear();
              store_.create(doc2);
            }
            return true;
          });
      return block;
    } catch (const DatastoreError& e) {
      datastore_failure(e);
    }
  }
  return std::nullopt;
}

AssignResult Ipam::auto_assign(const AssignRequest& request) {
  if (request.handle_id.empty() || request.node.empty()) {
    throw IpamError(IpamError::Code::invalid_request, "a handle and a node are required");
  }
  AssignResult result;
  const model::IPAMConfigSpec cfg = request.known_config ? *request.known_config : config();
  const std::string affinity_value = kAffinityPrefix + request.node;
  // The caller's extra operations ride on the write that completes the request: the last one
  // of the last family asked for.
  std::optional<Finisher> finisher;
  const IpFamily last_family = request.num_v6 > 0 ? IpFamily::kV6 : IpFamily::kV4;
  if (request.extra_ops && store_.supports_txn()) {
    finisher.emplace();
    finisher->build = [&](const std::vector<IpPrefix>& last_write) {
      AssignResult all = result;
      for (const IpPrefix& p : last_write) {
        (p.is_v4() ? all.v4 : all.v6).push_back(p);
      }
      return request.extra_ops(all);
    };
  }

  auto assign_family = [&](IpFamily family, int want, const std::vector<IpPrefix>& restrict_to,
                           std::vector<IpPrefix>& out) {
    if (want <= 0) {
      return;
    }
    Finisher* finishing = family == last_family && finisher ? &*finisher : nullptr;
    const std::vector<PoolView> pools = usable_pools(request, family, restrict_to);
    if (pools.empty()) {
      throw IpamError(IpamError::Code::no_pool, "no enabled " +
                                                    std::string(model::family_name(family)) +
                                                    " pool is usable by node " + request.node);
    }
    auto in_pools = [&](const IpPrefix& block) {
      return std::any_of(pools.begin(), pools.end(),
                         [&](const PoolView& p) { return p.cidr.contains(block); });
    };
    int need = want;
    std::set<IpPrefix> tried;
    // 1. this node's blocks: the known ones first, then (still short) a fresh list.
    auto allocate_in_own = [&](const std::vector<IpPrefix>& blocks) {
      for (const IpPrefix& block : blocks) {
        if (need == 0) {
          break;
        }
        if (block.family() != family || !in_pools(block) || !tried.insert(block.masked()).second) {
          continue;
        }
        for (const IpPrefix& a :
             allocate_in_block(block.masked(), need, request, true, finishing)) {
          out.push_back(a);
          --need;
        }
      }
    };
    if (request.known_own_blocks) {
      std::vector<IpPrefix> known = *request.known_own_blocks;
      std::sort(known.begin(), known.end());
      // Blocks whose known copy has room first: one the copy shows full (or that has no copy)
      // would cost a read to check, and is only tried when those are full after all.
      std::stable_partition(known.begin(), known.end(), [&](const IpPrefix& block) {
        if (!request.known_blocks) {
          return false;
        }
        const auto it = request.known_blocks->find(block.masked());
        return it != request.known_blocks->end() && !it->second.doc.spec.unallocated.empty();
      });
      allocate_in_own(known);
      if (need == 0) {
        return;
      }
    }
    std::vector<Versioned<model::BlockAffinitySpec>> affinities;
    try {
      affinities = store_.list<model::BlockAffinitySpec>();
    } catch (const DatastoreError& e) {
      datastore_failure(e);
    }
    std::vector<IpPrefix> own_blocks;
    int blocks_of_node = 0;
    for (const auto& a : affinities) {
      if (a.doc.spec.node != request.node || a.doc.spec.cidr.family() != family) {
        continue;
      }
      ++blocks_of_node;
      if (a.doc.spec.state == model::AffinityState::kConfirmed) {
        own_blocks.push_back(a.doc.spec.cidr.masked());
      }
    }
    std::sort(own_blocks.begin(), own_blocks.end());
    allocate_in_own(own_blocks);
    // 2. claim new blocks
    while (need > 0 && cfg.auto_allocate_blocks &&
           (cfg.max_blocks_per_host == 0 || blocks_of_node < cfg.max_blocks_per_host)) {
      std::optional<IpPrefix> claimed;
      for (const PoolView& pool : pools) {
        claimed = claim_block(pool, request.node);
        if (claimed) {
          break;
        }
      }
      if (!claimed) {
        break;
      }
      ++blocks_of_node;
      for (const IpPrefix& a : allocate_in_block(*claimed, need, request, true, finishing)) {
        out.push_back(a);
        --need;
      }
    }
    // 3. borrow from other nodes' blocks
    if (need > 0 && !cfg.strict_affinity) {
      std::vector<Versioned<model::IPAMBlockSpec>> blocks;
      try {
        blocks = store_.list<model::IPAMBlockSpec>();
      } catch (const DatastoreError& e) {
        datastore_failure(e);
      }
      for (const auto& b : blocks) {
        if (need == 0) {
          break;
        }
        if (b.doc.spec.affinity == affinity_value || !in_pools(b.doc.spec.cidr) ||
            b.doc.spec.unallocated.empty() || b.doc.spec.deleted) {
          continue;
        }
        for (const IpPrefix& a :
             allocate_in_block(b.doc.spec.cidr, need, request, false, finishing)) {
          out.push_back(a);
          --need;
        }
      }
    }
    if (need > 0) {
      std::string why = cfg.strict_affinity ? " (strictAffinity forbids borrowing)" : "";
      if (cfg.max_blocks_per_host != 0 && blocks_of_node >= cfg.max_blocks_per_host) {
        why += " (node has maxBlocksPerHost=" + std::to_string(cfg.max_blocks_per_host) + ")";
      }
      throw IpamError(IpamError::Code::exhausted, "no free " +
                                                      std::string(model::family_name(family)) +
                                                      " address for node " + request.node + why);
    }
  };

  try {
    assign_family(IpFamily::kV4, request.num_v4, request.pools_v4, result.v4);
    assign_family(IpFamily::kV6, request.num_v6, request.pools_v6, result.v6);
  } catch (const IpamError&) {
    // All or nothing: what this call allocated is given back.
    std::vector<IpAddress> taken;
    for (const auto* list : {&result.v4, &result.v6}) {
      for (const IpPrefix& p : *list) {
        taken.push_back(p.address());
      }
    }
    if (!taken.empty()) {
      try {
        release_addresses(taken);
      } catch (const IpamError&) {
      }
    }
    throw;
  }
  if (finisher) {
    result.extra = finisher->outcome;
    result.extra_stored = std::move(finisher->stored);
  }
  if (auto h = handles_.find(handle_resource_name(request.handle_id)); h != handles_.end()) {
    result.handle = h->second;
  }
  return result;
}

IpPrefix Ipam::assign_address(const IpAddress& address, const AssignRequest& request) {
  std::vector<Versioned<model::IPPoolSpec>> pools;
  try {
    pools = store_.list<model::IPPoolSpec>();
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  auto pool = std::find_if(pools.begin(), pools.end(), [&](const auto& p) {
    return !p.doc.spec.disabled && p.doc.spec.cidr.contains(address);
  });
  if (pool == pools.end()) {
    throw IpamError(IpamError::Code::invalid_request,
                    address.to_string() + " is not in any enabled pool");
  }
  const int block_size = default_block_size(pool->doc.spec);
  const IpPrefix block = block_of(address, block_size);
  const std::string name = model::block_name(block);
  const uint64_t ordinal = *block.ordinal_of(address);

  // The block may not exist yet: claim it for this node first.
  try {
    if (!store_.get<model::IPAMBlockSpec>(name)) {
      model::IPAMBlock doc;
      doc.metadata.name = name;
      doc.spec.cidr = block;
      doc.spec.affinity = kAffinityPrefix + request.node;
      const uint64_t n = block.size();
      doc.spec.allocations.assign(n, std::nullopt);
      doc.spec.unallocated.resize(n);
      std::iota(doc.spec.unallocated.begin(), doc.spec.unallocated.end(), 0);
      model::BlockAffinity affinity;
      affinity.metadata.name = model::block_affinity_name(request.node, block);
      affinity.spec.state = model::AffinityState::kConfirmed;
      affinity.spec.node = request.node;
      affinity.spec.cidr = block;
      try {
        store_.create(doc);
        store_.create(affinity);
      } catch (const DatastoreError& e) {
        if (!e.already_exists()) {
          throw;
        }
      }
    }
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }

  bool taken_by_other = false;
  with_retries(
      options_.max_retries, [this](int a) { retry_pause(a); }, "assign " + address.to_string(),
      [&] {
        auto current = store_.get<model::IPAMBlockSpec>(name);
        if (!current) {
          return false;
        }
        Versioned<model::IPAMBlockSpec> next = *current;
        model::IPAMBlock& doc = next.doc;
        auto& slot = doc.spec.allocations[ordinal];
        if (slot) {
          // Ours already: idempotent, the handle was counted by the first call.
          taken_by_other =
              doc.spec.attributes[static_cast<size_t>(*slot)].handle_id != request.handle_id;
          return true;
        }
        model::AllocationAttribute attribute{request.handle_id, request.attributes};
        auto it = std::find(doc.spec.attributes.begin(), doc.spec.attributes.end(), attribute);
        slot = static_cast<int32_t>(it - doc.spec.attributes.begin());
        if (it == doc.spec.attributes.end()) {
          doc.spec.attributes.push_back(attribute);
        }
        auto& free_list = doc.spec.unallocated;
        free_list.erase(
            std::remove(free_list.begin(), free_list.end(), static_cast<int32_t>(ordinal)),
            free_list.end());
        return write_block_and_handle(&next, block, request.handle_id, 1, false) ==
               WriteOutcome::written;
      });
  if (taken_by_other) {
    throw IpamError(IpamError::Code::address_in_use, address.to_string() + " is already in use");
  }
  return IpPrefix(address, block_size);
}

bool Ipam::release_in_block(const IpPrefix& block, const std::string& handle_id,
                            const std::vector<IpAddress>* only, std::vector<IpAddress>* released,
                            const Versioned<model::IPAMBlockSpec>* copy,
                            const std::vector<datastore::TxnOp>* extras, bool* extras_written) {
  const std::string name = model::block_name(block);
  std::vector<std::pair<IpAddress, std::string>> freed;  // address, its handle
  enum class Outcome { written, nothing, conflict, refused };
  auto try_block = [&](const std::optional<Versioned<model::IPAMBlockSpec>>& current) {
    freed.clear();
    if (!current) {
      return Outcome::nothing;
    }
    Versioned<model::IPAMBlockSpec> next = *current;
    model::IPAMBlock& doc = next.doc;
    for (size_t ordinal = 0; ordinal < doc.spec.allocations.size(); ++ordinal) {
      auto& slot = doc.spec.allocations[ordinal];
      if (!slot) {
        continue;
      }
      const std::string& owner = doc.spec.attributes[static_cast<size_t>(*slot)].handle_id;
      const IpAddress address = *block.address_at(ordinal);
      const bool match = only != nullptr
                             ? std::find(only->begin(), only->end(), address) != only->end()
                             : owner == handle_id;
      if (!match) {
        continue;
      }
      freed.emplace_back(address, owner);
      slot.reset();
      doc.spec.unallocated.push_back(static_cast<int32_t>(ordinal));  // reused last
    }
    if (freed.empty()) {
      return Outcome::nothing;
    }
    compact_attributes(doc.spec);
    if (only == nullptr) {
      // By handle: the addresses and the handle's entry for this block go together (the
      // handle itself with its last entry), and with them the caller's extra operations.
      switch (write_block_and_handle(&next, block, handle_id, 0, /*drop=*/true, extras)) {
        case WriteOutcome::written:
          if (extras != nullptr && extras_written != nullptr) {
            *extras_written = true;
          }
          return Outcome::written;
        case WriteOutcome::block_changed:
          freed.clear();
          return Outcome::conflict;
        case WriteOutcome::extras_refused:
          freed.clear();
          return Outcome::refused;
      }
    }
    // Specific addresses of possibly several handles (`ipam release --ip`): the block first,
    // then each handle below; a stop in between leaves handle entries that `ipam check`
    // reports and release_by_handle() cleans up.
    store_.update(doc, current->revision);
    return Outcome::written;
  };
  bool refused = false;
  with_retries(
      options_.max_retries, [this](int a) { retry_pause(a); }, "release in " + name,
      [&] {
        if (const auto* c = std::exchange(copy, nullptr)) {
          const Outcome outcome = try_block(*c);
          if (outcome == Outcome::written || outcome == Outcome::refused) {
            refused = outcome == Outcome::refused;
            return true;
          }
          // Stale, or nothing to release by the copy: decide on the stored block, no pause.
        }
        const Outcome outcome = try_block(store_.get<model::IPAMBlockSpec>(name));
        refused = outcome == Outcome::refused;
        return outcome != Outcome::conflict;
      });
  if (refused) {
    return false;
  }
  for (const auto& [address, owner] : freed) {
    if (released != nullptr) {
      released->push_back(address);
    }
    if (only != nullptr) {
      ensure_handle(owner, block, -1);
    }
  }
  return true;
}

int Ipam::release_by_handle(const std::string& handle_id) {
  ReleaseRequest request;
  request.handle_id = handle_id;
  return release(request).released;
}

ReleaseResult Ipam::release(const ReleaseRequest& request) {
  const std::string name = handle_resource_name(request.handle_id);
  ReleaseResult result;
  std::vector<IpAddress> released;
  // The extra operations go with the first write; without transactions the caller writes them.
  const std::vector<datastore::TxnOp>* extras =
      !request.extra_ops.empty() && store_.supports_txn() ? &request.extra_ops : nullptr;
  bool extras_written = false;
  try {
    if (request.known_handle && request.known_handle->doc.metadata.name == name) {
      handles_[name] = request.known_handle;
    } else {
      handles_[name] = store_.get<model::IPAMHandleSpec>(name);
    }
    if (!handles_[name]) {
      return result;
    }
    // Block by block, each write taking the block's entry off the handle and the last one the
    // handle itself. The handle is followed as written (or re-read: a stale known copy, or a
    // datastore without transactions), so entries it gained meanwhile are released too.
    std::set<std::string> done;
    for (;;) {
      auto known = handles_.find(name);
      if (known == handles_.end()) {
        known = handles_.emplace(name, store_.get<model::IPAMHandleSpec>(name)).first;
      }
      if (!known->second) {
        break;  // the handle is gone with its last entry
      }
      std::optional<std::string> cidr;
      for (const auto& [entry, count] : known->second->doc.spec.block) {
        if (done.count(entry) == 0) {
          cidr = entry;
          break;
        }
      }
      if (!cidr) {
        break;
      }
      done.insert(*cidr);
      const IpPrefix block = IpPrefix::parse(*cidr).masked();
      const Versioned<model::IPAMBlockSpec>* copy = nullptr;
      if (request.known_blocks) {
        if (auto it = request.known_blocks->find(block); it != request.known_blocks->end()) {
          copy = &it->second;
        }
      }
      if (!release_in_block(block, request.handle_id, nullptr, &released, copy,
                            extras_written ? nullptr : extras, &extras_written)) {
        // Only the first write carries them: nothing of the release is written yet.
        result.extra = ExtraOps::refused;
        return result;
      }
    }
    // What is left (entries for blocks that are gone or held nothing of this handle) is dropped
    // now, entry by entry, with the extra operations if no block write carried them: an
    // interrupted release is finished by the next one.
    for (int attempt = 0; attempt < options_.max_retries; ++attempt) {
      auto known = handles_.find(name);
      if (known == handles_.end()) {
        known = handles_.emplace(name, store_.get<model::IPAMHandleSpec>(name)).first;
      }
      if (!known->second) {
        break;
      }
      if (known->second->doc.spec.block.empty()) {
        // Not normally stored (the last entry takes the handle with it): delete it as it is.
        try {
          store_.remove<model::IPAMHandleSpec>(name, known->second->revision);
          handles_[name] = std::nullopt;
        } catch (const DatastoreError& e) {
          if (!e.conflict() && !e.not_found()) {
            throw;
          }
          handles_.erase(name);
        }
        continue;
      }
      const IpPrefix block = IpPrefix::parse(known->second->doc.spec.block.begin()->first);
      const WriteOutcome outcome = write_block_and_handle(
          nullptr, block, request.handle_id, 0, /*drop=*/true, extras_written ? nullptr : extras);
      if (outcome == WriteOutcome::extras_refused) {
        result.extra = ExtraOps::refused;
        result.released = static_cast<int>(released.size());
        return result;
      }
      extras_written = extras_written || extras != nullptr;
      if (!store_.supports_txn()) {
        handles_.erase(name);  // ensure_handle() keeps nothing: read it again
      }
    }
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  result.released = static_cast<int>(released.size());
  result.extra = extras_written ? ExtraOps::written : ExtraOps::not_written;
  return result;
}

std::vector<IpAddress> Ipam::release_addresses(const std::vector<IpAddress>& addresses) {
  std::vector<IpAddress> released;
  std::vector<Versioned<model::IPAMBlockSpec>> blocks;
  try {
    blocks = store_.list<model::IPAMBlockSpec>();
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  std::map<IpPrefix, std::vector<IpAddress>> by_block;
  for (const IpAddress& a : addresses) {
    for (const auto& b : blocks) {
      if (b.doc.spec.cidr.contains(a)) {
        by_block[b.doc.spec.cidr.masked()].push_back(a);
        break;
      }
    }
  }
  for (const auto& [block, list] : by_block) {
    release_in_block(block, {}, &list, &released);
  }
  return released;
}

std::vector<IpAddress> Ipam::addresses_of_handle(const std::string& handle_id) {
  std::vector<IpAddress> out;
  try {
    auto handle = store_.get<model::IPAMHandleSpec>(handle_resource_name(handle_id));
    if (!handle) {
      return out;
    }
    for (const auto& [cidr, count] : handle->doc.spec.block) {
      auto block = store_.get<model::IPAMBlockSpec>(model::block_name(IpPrefix::parse(cidr)));
      if (!block) {
        continue;
      }
      const auto& spec = block->doc.spec;
      for (size_t o = 0; o < spec.allocations.size(); ++o) {
        if (spec.allocations[o] &&
            spec.attributes[static_cast<size_t>(*spec.allocations[o])].handle_id == handle_id) {
          out.push_back(*spec.cidr.masked().address_at(o));
        }
      }
    }
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  return out;
}

std::vector<IpPrefix> Ipam::release_empty_blocks(const std::string& node) {
  std::vector<IpPrefix> released;
  try {
    for (const auto& a : store_.list<model::BlockAffinitySpec>()) {
      if (a.doc.spec.node != node) {
        continue;
      }
      const IpPrefix block = a.doc.spec.cidr.masked();
      auto current = store_.get<model::IPAMBlockSpec>(model::block_name(block));
      if (current && in_use(current->doc.spec) > 0) {
        continue;
      }
      // Mark the affinity so no allocation starts in it, then delete the block only if it is
      // still the empty version we read, then the affinity.
      model::BlockAffinity marked = a.doc;
      marked.spec.state = model::AffinityState::kPendingDeletion;
      Versioned<model::BlockAffinitySpec> pending;
      try {
        pending = store_.update(marked, a.revision);
      } catch (const DatastoreError& e) {
        if (e.conflict() || e.not_found()) {
          continue;
        }
        throw;
      }
      if (current) {
        try {
          store_.remove<model::IPAMBlockSpec>(current->doc.metadata.name, current->revision);
        } catch (const DatastoreError& e) {
          if (!e.not_found()) {
            // Someone allocated meanwhile: keep the block and restore the affinity.
            model::BlockAffinity restored = pending.doc;
            restored.spec.state = model::AffinityState::kConfirmed;
            try {
              store_.update(restored, pending.revision);
            } catch (const DatastoreError&) {
            }
            continue;
          }
        }
      }
      try {
        store_.remove<model::BlockAffinitySpec>(pending.doc.metadata.name, pending.revision);
      } catch (const DatastoreError& e) {
        if (!e.not_found()) {
          throw;
        }
      }
      released.push_back(block);
    }
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  return released;
}

int Ipam::release_node_affinities(const std::string& node) {
  int count = 0;
  try {
    for (const auto& a : store_.list<model::BlockAffinitySpec>()) {
      if (a.doc.spec.node != node) {
        continue;
      }
      const std::string block_name = model::block_name(a.doc.spec.cidr.masked());
      with_retries(
          options_.max_retries, [this](int x) { retry_pause(x); }, "unaffine " + block_name,
          [&] {
            auto block = store_.get<model::IPAMBlockSpec>(block_name);
            if (!block) {
              return true;
            }
            if (in_use(block->doc.spec) == 0) {
              store_.remove<model::IPAMBlockSpec>(block_name, block->revision);
            } else {
              model::IPAMBlock doc = block->doc;
              doc.spec.affinity.clear();
              store_.update(doc, block->revision);
            }
            return true;
          });
      try {
        store_.remove<model::BlockAffinitySpec>(a.doc.metadata.name, a.revision);
      } catch (const DatastoreError& e) {
        if (!e.not_found() && !e.conflict()) {
          throw;
        }
      }
      ++count;
    }
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  return count;
}

std::vector<PoolUsage> Ipam::usage() {
  std::vector<PoolUsage> out;
  try {
    const auto blocks = store_.list<model::IPAMBlockSpec>();
    for (const auto& p : store_.list<model::IPPoolSpec>()) {
      PoolUsage u;
      u.name = p.doc.metadata.name;
      u.pool.cidr = p.doc.spec.cidr.masked();
      u.pool.total = u.pool.cidr.size();
      for (const auto& b : blocks) {
        if (!u.pool.cidr.contains(b.doc.spec.cidr)) {
          continue;
        }
        Usage bu{b.doc.spec.cidr.masked(), b.doc.spec.cidr.size(), in_use(b.doc.spec),
                 b.doc.spec.affinity};
        u.pool.in_use += bu.in_use;
        u.blocks.push_back(bu);
      }
      std::sort(u.blocks.begin(), u.blocks.end(),
                [](const Usage& a, const Usage& b) { return a.cidr < b.cidr; });
      out.push_back(std::move(u));
    }
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  std::sort(out.begin(), out.end(),
            [](const PoolUsage& a, const PoolUsage& b) { return a.pool.cidr < b.pool.cidr; });
  return out;
}

AddressInfo Ipam::describe(const IpAddress& address) {
  AddressInfo info{address, std::nullopt, std::nullopt, false, {}, {}, {}};
  try {
    for (const auto& p : store_.list<model::IPPoolSpec>()) {
      if (p.doc.spec.cidr.contains(address)) {
        info.pool = p.doc.spec.cidr.masked();
      }
    }
    for (const auto& b : store_.list<model::IPAMBlockSpec>()) {
      if (!b.doc.spec.cidr.contains(address)) {
        continue;
      }
      const IpPrefix block = b.doc.spec.cidr.masked();
      info.block = block;
      info.affinity = b.doc.spec.affinity;
      const auto& slot = b.doc.spec.allocations[*block.ordinal_of(address)];
      if (slot) {
        const auto& attribute = b.doc.spec.attributes[static_cast<size_t>(*slot)];
        info.allocated = true;
        info.handle_id = attribute.handle_id;
        info.attributes = attribute.secondary;
      }
    }
  } catch (const DatastoreError& e) {
    datastore_failure(e);
  }
  return info;
}

}  // namespace brindle::ipam
