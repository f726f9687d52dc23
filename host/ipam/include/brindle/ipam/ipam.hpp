// Block IPAM with per-node block affinity, state in the datastore.
//
// Pools are split into blocks of `blockSize`. A node claims blocks (BlockAffinity "host:<node>")
// with the pending -> create block -> confirmed protocol and allocates from its own blocks first;
// when it can claim no block and strictAffinity is false it borrows single addresses from other
// nodes' blocks. Every write is a compare-and-swap on the stored revision, retried with jitter.
// Handles ("<network>.<containerID>", "vxlan-tunnel-addr-<node>") group what one owner holds and
// make release idempotent. An allocation or release changes a block and the handle's count for
// it in ONE datastore transaction (datastore::Client::txn): both are written or neither, so
// whenever the process stops, every allocated address is found from its handle and every handle
// entry has its addresses — no orphaned address, no half-released handle, and one write (one
// fsync) instead of two. With a datastore plugin that has no transactions (ABI 0.1) the two are
// single writes in a crash-safe order: the handle before the block when allocating, the block
// before the handle when releasing, so a stop in between leaves only a handle entry without
// addresses, which release_by_handle() and `ipam check` clean up, never an orphaned address.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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

// What became of a request's extra operations (AssignRequest::extra_ops,
// ReleaseRequest::extra_ops): writes of the caller that belong with the IPAM change, e.g. the
// pod's WorkloadEndpoint.
enum class ExtraOps {
  // No transaction carried them (a datastore without transactions, no block write to ride on,
  // none given): the caller writes them itself.
  not_written,
  // Written in the same transaction as a block and handle write: all of it or nothing.
  written,
  // One of their conditions failed (already_exists / conflict / not_found): the caller's view of
  // its own resource is stale. What that means for the IPAM change is said at each request.
  refused
};

struct AssignResult;

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
  // Blocks as the caller last saw them, with their revisions (by masked CIDR): the first attempt
  // in such a block starts from this copy instead of reading it, so an allocation is a single
  // datastore round trip (the transaction). The write is conditional on the copy's revision: a
  // stale copy costs one refused write and a read, never a wrong allocation; a copy that offers
  // nothing to write (full, not ours) is checked by a read.
  std::optional<std::map<model::IpPrefix, Versioned<model::IPAMBlockSpec>>> known_blocks;
  // The caller's writes that go with the allocation (the agent's WorkloadEndpoint), built from
  // every address of the request: with datastore transactions they are added to the transaction
  // of the request's LAST block write (so the resource never names an address before it is
  // allocated, as when written after the allocation), and an allocation from a known block is
  // one datastore write in total. Refused (e.g. the endpoint exists already): the allocation is
  // written without them and AssignResult::extra says so; the caller writes them its own way.
  std::function<std::vector<datastore::TxnOp>(const AssignResult& addresses)> extra_ops;
};

struct AssignResult {
  std::vector<model::IpPrefix> v4;  // each address with its block's prefix length
  std::vector<model::IpPrefix> v6;
  ExtraOps extra = ExtraOps::not_written;
  std::vector<datastore::Stored> extra_stored;  // extra == written: what is stored, one per op
  // The handle as the last write left it (nullopt: not known without a read), for a later
  // ReleaseRequest::known_handle.
  std::optional<Versioned<model::IPAMHandleSpec>> handle;
};

// Releases what one handle holds (Ipam::release); the known_* fields save reads as in
// AssignRequest: every write from them is conditional on their revisions, a stale copy costs a
// refused write and a read, and a copy that shows nothing to release is checked by a read.
struct ReleaseRequest {
  std::string handle_id;
  std::optional<Versioned<model::IPAMHandleSpec>> known_handle;  // as last written or read
  std::optional<std::map<model::IpPrefix, Versioned<model::IPAMBlockSpec>>> known_blocks;
  // The caller's writes that go with the release (the WorkloadEndpoint's removal): with datastore
  // transactions they are added to the transaction of the FIRST write of the release (so no
  // address is free while a resource still names it, as when they are written before the
  // release). Refused: NOTHING of the release is written (ReleaseResult::extra == refused); the
  // caller reads its resource and calls again. Not written (no transactions, nothing held): the
  // caller writes them itself, before a release() without them.
  std::vector<datastore::TxnOp> extra_ops;
};

struct ReleaseResult {
  int released = 0;  // addresses
  ExtraOps extra = ExtraOps::not_written;
};

// A block an Ipam object wrote: the revision its write was conditional on and what is stored now
// (a caller's copy at `previous_revision` can be replaced by `now`).
struct WrittenBlock {
  std::string previous_revision;
  Versioned<model::IPAMBlockSpec> now;
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
  // The same with the caller's known state and extra writes (see ReleaseRequest).
  ReleaseResult release(const ReleaseRequest& request);
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

  // The blocks this object wrote by allocations and releases by handle, each as last written.
  const std::map<model::IpPrefix, WrittenBlock>& written_blocks() const { return written_blocks_; }

 private:
  struct PoolView;
  // The extra operations of an auto_assign(): built for the write that completes the request.
  struct Finisher {
    std::function<std::vector<datastore::TxnOp>(const std::vector<model::IpPrefix>& last_write)>
        build;
    ExtraOps outcome = ExtraOps::not_written;
    std::vector<datastore::Stored> stored;
  };
  enum class WriteOutcome { written, block_changed, extras_refused };
  std::vector<PoolView> usable_pools(const AssignRequest& request, model::IpFamily family,
                                     const std::vector<model::IpPrefix>& restrict_to);
  static std::vector<PoolView> pools_matching(const std::vector<model::IPPool>& pools,
                                              const AssignRequest& request, model::IpFamily family,
                                              const std::vector<model::IpPrefix>& restrict_to,
                                              const model::Labels& labels);
  model::IPAMConfigSpec config();
  // Changes the handle's count for `block` by `delta` (`drop`: removes the block's entry); the
  // handle is created or deleted as needed. Its own compare-and-swap loop.
  void ensure_handle(const std::string& handle_id, const model::IpPrefix& block, int delta,
                     bool drop = false);
  // Writes the changed `block` (read at its revision; null: only the handle's entry for `cidr`)
  // together with the handle's change for it (as ensure_handle) and `extras`: one transaction,
  // or the crash-safe single-write order without one (`extras` must then be null). Returns
  // block_changed, having written nothing, when the block changed since it was read or is gone
  // (read it again), and extras_refused, having written nothing, when one of `extras` failed its
  // condition. A handle that changed meanwhile is re-read here.
  WriteOutcome write_block_and_handle(const Versioned<model::IPAMBlockSpec>* block,
                                      const model::IpPrefix& cidr, const std::string& handle_id,
                                      int delta, bool drop,
                                      const std::vector<datastore::TxnOp>* extras = nullptr,
                                      std::vector<datastore::Stored>* extra_stored = nullptr);
  std::vector<model::IpPrefix> allocate_in_block(const model::IpPrefix& block, int count,
                                                 const AssignRequest& request,
                                                 bool require_affinity,
                                                 Finisher* finisher = nullptr);
  std::optional<model::IpPrefix> claim_block(const PoolView& pool, const std::string& node);
  // Releases a handle's addresses in `block` (`only`: these addresses whatever their handle).
  // `copy`: the caller's copy of the block, tried first. `extras` (by handle only) go into the
  // block's write; returns false when they were refused (nothing written), and sets
  // *extras_written when they were written.
  bool release_in_block(const model::IpPrefix& block, const std::string& handle_id,
                        const std::vector<model::IpAddress>* only,
                        std::vector<model::IpAddress>* released,
                        const Versioned<model::IPAMBlockSpec>* copy = nullptr,
                        const std::vector<datastore::TxnOp>* extras = nullptr,
                        bool* extras_written = nullptr);
  void retry_pause(int attempt);

  Store store_;
  Options options_;
  uint64_t jitter_state_;
  // Handles this object has read or written (resource name -> stored handle; nullopt: absent).
  // Only the starting guess for the next transaction, which is conditional on the revision; a
  // handle not in here is assumed absent when adding to it (one handle per container).
  std::map<std::string, std::optional<Versioned<model::IPAMHandleSpec>>> handles_;
  std::map<model::IpPrefix, WrittenBlock> written_blocks_;
};

}  // namespace brindle::ipam
