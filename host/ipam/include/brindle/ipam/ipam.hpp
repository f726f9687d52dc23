// Block IPAM with per-node block affinity, state in the datastore.
//
// Pools are split into blocks of `blockSize`. A node claims blocks (BlockAffinity "host:<node>")
// with the pending -> create block -> confirmed protocol and allocates from its own blocks first;
// when it can claim no block and strictAffinity is false it borrows single addresses from other
// nodes' blocks. Every write is a compare-and-swap on the stored revision, retried with jitter.
// Handles ("<network>.<containerID>", "vxlan-tunnel-addr-<node>") group what one owner holds and
// make release idempotent. The handle is written before the block, so a crash between the two
// leaves a handle that release_by_handle() still cleans up, never an orphaned address.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "brindle/ipam/store.hpp"
#include "brindle/model/ip.hpp"
#include "brindle/model/kinds.hpp"

namespace brindle::ipam {

// Why an IPAM call failed. `code` maps onto CNI error codes in the daemon.
class IpamError : public std::runtime_error {
 public:
  enum class Code {
    exhausted,         // no free address in any usable pool (CNI 100+)
    no_pool,           // no enabled pool of that family is usable by this node / request
    invalid_request,   // e.g. a requested address outside every pool
    address_in_use,    // a specific address was requested and is taken
    conflict_retries,  // gave up after too many compare-and-swap conflicts
    datastore          // the datastore failed (unreachable, timeout)
  };
  IpamError(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

struct Options {
  int max_retries = 100;  // compare-and-swap attempts per write
  std::chrono::microseconds retry_jitter{2000};
};

struct AssignRequest {
  std::string handle_id;
  std::string node;
  std::map<std::string, std::string> attributes;  // owner details: namespace, pod, node, ...
  int num_v4 = 1;
  int num_v6 = 0;
  std::vector<model::IpPrefix> pools_v4;  // restrict to these pool CIDRs (empty: any usable)
  std::vector<model::IpPrefix> pools_v6;
  model::AllowedUse use = model::AllowedUse::kWorkload;
  // Node labels for pool nodeSelectors; nullopt: read the Node resource.
  std::optional<model::Labels> node_labels;
  // Cluster state the caller already holds (the agent's synced copy), each saving a datastore
  // read; nullopt: read it. Slightly stale data is safe: pools and the configuration only choose
  // where to look (no usable known pool: the pools are read), a block is always re-read before an
  // allocation, and the affinities are read fresh before a new block is claimed.
  std::optional<std::vector<model::IPPool>> known_pools;
  std::optional<model::IPAMConfigSpec> known_config;
  std::optional<std::vector<model::IpPrefix>> known_own_blocks;  // confirmed affinities of `node`
};

struct AssignResult {
  std::vector<model::IpPrefix> v4;  // each address with its block's prefix length
  std::vector<model::IpPrefix> v6;
};

// Usage of one pool or block, for `brindlectl ipam show`.
struct Usage {
  model::IpPrefix cidr;
  uint64_t total = 0;
  uint64_t in_use = 0;
  std::string affinity;  // blocks: "host:<node>" or ""
};

struct PoolUsage {
  std::string name;
  Usage pool;
  std::vector<Usage> blocks;
};

// Where an address is, for `brindlectl ipam show --ip`.
struct AddressInfo {
  model::IpAddress address;
  std::optional<model::IpPrefix> pool;
  std::optional<model::IpPrefix> block;
  bool allocated = false;
  std::string handle_id;
  std::map<std::string, std::string> attributes;
  std::string affinity;
};

class Ipam {
 public:
  explicit Ipam(const datastore::Client& client, Options options = {});

  // Allocates addresses for a handle. Throws IpamError.
  AssignResult auto_assign(const AssignRequest& request);
  // Allocates exactly `address` (pod annotation / requested IP). Throws IpamError.
  model::IpPrefix assign_address(const model::IpAddress& address, const AssignRequest& request);

  // Releases everything held by a handle; idempotent (0 when nothing was held).
  int release_by_handle(const std::string& handle_id);
  // Releases specific addresses whatever their handle (ipam release --ip). Returns those released.
  std::vector<model::IpAddress> release_addresses(const std::vector<model::IpAddress>& addresses);
  std::vector<model::IpAddress> addresses_of_handle(const std::string& handle_id);

  // Releases this node's affine blocks that have no allocation. Returns the blocks released.
  std::vector<model::IpPrefix> release_empty_blocks(const std::string& node);
  // Releases every block affinity of a node that left the cluster (blocks with allocations keep
  // them, become unaffine and can be borrowed from).
  int release_node_affinities(const std::string& node);

  std::vector<PoolUsage> usage();
  AddressInfo describe(const model::IpAddress& address);

 private:
  struct PoolView;
  std::vector<PoolView> usable_pools(const AssignRequest& request, model::IpFamily family,
                                     const std::vector<model::IpPrefix>& restrict_to);
  static std::vector<PoolView> pools_matching(const std::vector<model::IPPool>& pools,
                                              const AssignRequest& request, model::IpFamily family,
                                              const std::vector<model::IpPrefix>& restrict_to,
                                              const model::Labels& labels);
  model::IPAMConfigSpec config();
  void ensure_handle(const std::string& handle_id, const model::IpPrefix& block, int delta);
  std::vector<model::IpPrefix> allocate_in_block(const model::IpPrefix& block, int count,
                                                 const AssignRequest& request,
                                                 bool require_affinity);
  std::optional<model::IpPrefix> claim_block(const PoolView& pool, const std::string& node);
  void release_in_block(const model::IpPrefix& block, const std::string& handle_id,
                        const std::vector<model::IpAddress>* only,
                        std::vector<model::IpAddress>* released);
  void retry_pause(int attempt);

  Store store_;
  Options options_;
  uint64_t jitter_state_;
};

}  // namespace brindle::ipam
