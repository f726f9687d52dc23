#include "brindle/datastore/syncer.hpp"

#include <pthread.h>

#include <algorithm>
#include <string_view>
#include <utility>

namespace brindle::datastore {

Syncer::Syncer(const Client& client, SyncCallbacks callbacks, std::chrono::milliseconds max_backoff)
    : client_(client), callbacks_(std::move(callbacks)), max_backoff_(max_backoff) {}

Syncer::~Syncer() {
  stop();
}

void Syncer::start() {
  worker_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "datastore-sync");
    run();
  });
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

namespace {

// kind, namespace and name in one string: each of the first two preceded by its length (LEB128),
// so that no content can make two keys collide.
void append_length(std::string& out, size_t n) {
  do {
    const auto low = static_cast<unsigned char>(n & 0x7f);
    n >>= 7;
    out.push_back(static_cast<char>(n != 0 ? low | 0x80 : low));
  } while (n != 0);
}

size_t read_length(std::string_view& in) {
  size_t n = 0;
  for (int shift = 0; !in.empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    n |= static_cast<size_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      break;
    }
  }
  return n;
}

std::string cache_key(const Key& key) {
  std::string out;
  out.reserve(key.kind.size() + key.namespace_.size() + key.name.size() + 2);
  append_length(out, key.kind.size());
  out += key.kind;
  append_length(out, key.namespace_.size());
  out += key.namespace_;
  out += key.name;
  return out;
}

Key key_of(std::string_view encoded) {
  Key key;
  size_t n = read_length(encoded);
  key.kind = encoded.substr(0, n);
  encoded.remove_prefix(std::min(n, encoded.size()));
  n = read_length(encoded);
  key.namespace_ = encoded.substr(0, n);
  encoded.remove_prefix(std::min(n, encoded.size()));
  key.name = encoded;
  return key;
}

size_t hash_of(std::string_view json) {
  return std::hash<std::string_view>{}(json);
}

}  // namespace

void Syncer::listed(const Stored& item) {
  auto [it, added] = cache_.try_emplace(cache_key(item.key));
  Reported& reported = it->second;
  reported.list = list_number_;
  const size_t json_hash = hash_of(item.json);
  if (!added && reported.revision == item.revision && reported.json_hash == json_hash) {
    return;
  }
  reported.revision = item.revision;
  reported.json_hash = json_hash;
  if (callbacks_.upsert) {
    callbacks_.upsert(item);
  }
}

bool Syncer::relist() {
  watch_.reset();  // from this thread, never the plugin's: the contract forbids self-cancel
  // Items are reported as the plugin delivers them (the list is never held whole), then what the
  // list did not deliver is removed. A list that fails midway leaves what it reported in the
  // cache (true as of its revision, like any event) and removes nothing: the next complete list
  // sorts out the rest.
  const uint32_t list = ++list_number_;
  std::string revision;
  try {
    revision = client_.list_each({}, {}, [this](Stored&& item) { listed(item); });
  } catch (const DatastoreError& e) {
    if (callbacks_.log_warning) {
      callbacks_.log_warning(std::string("datastore list failed, retrying: ") + e.what());
    }
    return false;
  }
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (it->second.list == list) {
      ++it;
      continue;
    }
    const Key gone = key_of(it->first);
    it = cache_.erase(it);
    if (callbacks_.remove) {
      callbacks_.remove(gone);
    }
  }
  {
    std::lock_guard lock(mutex_);
    ++lists_done_;
    queue_.clear();  // events queued by the old watch are covered by the list
  }
  try {
    watch_ = client_.watch({}, revision, [this](const Event& e) {
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
    if (cache_.erase(cache_key(s.key)) > 0 && callbacks_.remove) {
      callbacks_.remove(s.key);
    }
    return;
  }
  // As listed by the last list: the next list removes it unless it delivers it again.
  cache_[cache_key(s.key)] = {s.revision, hash_of(s.json), list_number_};
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
