// One brindled with a real etcd, for the agent's end-to-end tests: the pool, the node's
// configuration (the caller adds plugin sections), the daemon and its readiness, its log.
// The test process is the node (see brindled_process.hpp), so everything lives in its namespace.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "brindle/ipam/store.hpp"
#include "brindled_process.hpp"
#include "cni_test_support.hpp"
#include "etcd_datastore.hpp"

namespace brindle::test {

// Polls `condition` every `interval` until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(15),
                       std::chrono::milliseconds interval = std::chrono::milliseconds(100)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(interval);
  }
  return condition();
}

class SingleAgentTest : public ::testing::Test {
 protected:
  // The pool pods get addresses from, and what the node's configuration adds to the datastore,
  // control, health and metrics sections (plugin slots, [workload], ...).
  SingleAgentTest(std::string pool_cidr, std::string extra_config)
      : pool_cidr_(std::move(pool_cidr)), extra_config_(std::move(extra_config)) {}

  void SetUp() override {
    etcd_ = std::make_unique<EtcdDatastore>();
    dir_ = std::make_unique<TempDir>("agent");
    store_ = std::make_unique<ipam::Store>(etcd_->client());
    model::IPPool pool;
    pool.metadata.name = "pods";
    pool.spec.cidr = model::IpPrefix::parse(pool_cidr_);
    pool.spec.block_size = 28;
    store_->create(pool);

    socket_ = (dir_->path() / "run" / "brindled.sock").string();
    health_port_ = free_port();
    config_ = (dir_->path() / "brindle.toml").string();
    // [node] ipv4 comes from the address on brt-up0 (become_node_namespace).
    std::ofstream(config_) << etcd_->node_config_toml("node-a") << "\n"
                           << "[control]\nsocket = \"" << socket_ << "\"\n"
                           << "[health]\nlisten = \"127.0.0.1:" << health_port_ << "\"\n"
                           << "[metrics]\nlisten = \"\"\n"
                           << extra_config_;
    log_ = (dir_->path() / "brindled.log").string();
    daemon_ = std::make_unique<Brindled>(config_, log_);
    ASSERT_TRUE(wait_ready()) << log_tail();
  }
  void TearDown() override {
    daemon_.reset();
    if (HasFailure()) {
      std::cerr << "brindled log:\n" << log_tail();
    }
  }

  std::string log_tail() const { return test::log_tail(log_, 6000); }

  bool wait_ready() const { return test::wait_ready(health_port_, std::chrono::seconds(10)); }

  std::string pool_cidr_, extra_config_;
  std::unique_ptr<EtcdDatastore> etcd_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ipam::Store> store_;
  std::unique_ptr<Brindled> daemon_;
  std::string socket_, config_, log_;
  int health_port_ = 0;
};

}  // namespace brindle::test
