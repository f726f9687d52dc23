#include "brindle/datastore/syncer.hpp"

#include <algorithm>
#include <utility>

namespace brindle::datastore {

Syncer::Syncer(const Client& client, SyncCallbacks callbacks, std::chrono::milliseconds max_backoff)
    : client_(client), callbacks_(std::move(callbacks)), max_backoff_(max_backoff) {}

Syncer::~Syncer() {
  stop();
}

void Syncer::start() {
  worker_ = std::thread([this] { run(); });
}

void Syncer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) {
    worker_.join();
  }
  watch_.reset();
}

int Syncer::lists_done() const {
  std::lock_guard lock(mutex_);
  return lists_done_;
}

bool Syncer::relist() {
  watch_.reset();  // from this thread, never the plugin's: the contract forbids self-cancel
  ListResult listed;
  try {
    listed = client_.list({});
  } catch (const DatastoreError& e) {
    if (callbacks_.log_warning) {
      callbacks_.log_warning(std::string("datastore list failed, retrying: ") + e.what());
    }
    return false;
  }
  // Report differences against what consumers already have.
  std::map<Key, Stored> fresh;
  for (Stored& s : listed.items) {
    Key key = s.key;
    fresh.emplace(std::move(key), std::move(s));
  }
  for (const auto& [key, old] : cache_) {
    if (fresh.find(key) == fresh.end() && callbacks_.remove) {
      callbacks_.remove(key);
    }
  }
  for (const auto& [key, now] : fresh) {
    auto it = cache_.find(key);
    const bool changed =
        it == cache_.end() || it->second.revision != now.revision || it->second.json != now.json;
    if (changed && callbacks_.upsert) {
      callbacks_.upsert(now);
    }
  }
  cache_ = std::move(fresh);
  {
    std::lock_guard lock(mutex_);
    ++lists_done_;
    queue_.clear();  // events queued by the old watch are covered by the list
  }
  try {
    watch_ = client_.watch({}, listed.revision, [this](const Event& e) {
      {
        std::lock_guard lock(mutex_);
        queue_.push_back(e);
      }
      wake_.notify_all();
    });
  } catch (const DatastoreError& e) {
    if (callbacks_.log_warning) {
      callbacks_.log_warning(std::string("datastore watch failed, relisting: ") + e.what());
    }
    return false;
  }
  if (!synced_) {
    synced_ = true;
    if (callbacks_.in_sync) {
      callbacks_.in_sync();
    }
  }
  return true;
}

void Syncer::handle(const Event& event) {
  if (!event.resource) {
    return;
  }
  const Stored& s = *event.resource;
  if (event.type == EventType::deleted) {
    if (cache_.erase(s.key) > 0 && callbacks_.remove) {
      callbacks_.remove(s.key);
    }
    return;
  }
  cache_[s.key] = s;
  if (callbacks_.upsert) {
    callbacks_.upsert(s);
  }
}

void Syncer::run() {
  bool need_list = true;
  std::chrono::milliseconds backoff(100);
  while (true) {
    if (need_list) {
      if (relist()) {
        need_list = false;
        backoff = std::chrono::milliseconds(100);
      } else {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, backoff, [this] { return stopping_; });
        if (stopping_) {
          return;
        }
        backoff = std::min(backoff * 2, max_backoff_);
        continue;
      }
    }
    Event event;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        return;
      }
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    if (event.type == EventType::resync_required) {
      if (callbacks_.log_warning) {
        callbacks_.log_warning("datastore asked for a resync (" + event.message + "); relisting");
      }
      need_list = true;
      continue;
    }
    handle(event);
  }
}

}  // namespace brindle::datastore
