// The table type handed to toml11 so that a table's keys keep the order they appear in the file
// (PluginSection::keys promises file order; std::unordered_map would scramble it).
#pragma once

#include <cstddef>
#include <deque>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

#include <toml.hpp>

namespace brindle::config::detail {

// An insertion-ordered map with the subset of the std::map interface toml11 3.7 uses. Entries
// live in a deque so that references stay valid when the parser appends while holding one.
template <typename Key, typename Mapped>
class OrderedTable {
 public:
  using key_type = Key;
  using mapped_type = Mapped;
  using value_type = std::pair<Key, Mapped>;
  using size_type = std::size_t;
  using container_type = std::deque<value_type>;
  using iterator = typename container_type::iterator;
  using const_iterator = typename container_type::const_iterator;

  OrderedTable() = default;
  template <typename InputIterator>
  OrderedTable(InputIterator first, InputIterator last) {
    for (; first != last; ++first) {
      insert(*first);
    }
  }
  OrderedTable(std::initializer_list<value_type> entries)
      : OrderedTable(entries.begin(), entries.end()) {}

  iterator begin() noexcept { return entries_.begin(); }
  iterator end() noexcept { return entries_.end(); }
  const_iterator begin() const noexcept { return entries_.begin(); }
  const_iterator end() const noexcept { return entries_.end(); }
  const_iterator cbegin() const noexcept { return entries_.cbegin(); }
  const_iterator cend() const noexcept { return entries_.cend(); }

  size_type size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

  size_type count(const Key& key) const { return index_.count(key); }
  bool contains(const Key& key) const { return index_.count(key) != 0; }

  iterator find(const Key& key) {
    const auto found = index_.find(key);
    return found == index_.end() ? entries_.end() : entries_.begin() + found->second;
  }
  const_iterator find(const Key& key) const {
    const auto found = index_.find(key);
    return found == index_.end() ? entries_.end() : entries_.begin() + found->second;
  }

  Mapped& at(const Key& key) {
    const auto found = index_.find(key);
    if (found == index_.end()) {
      throw std::out_of_range("OrderedTable::at: no such key");
    }
    return entries_[found->second].second;
  }
  const Mapped& at(const Key& key) const {
    const auto found = index_.find(key);
    if (found == index_.end()) {
      throw std::out_of_range("OrderedTable::at: no such key");
    }
    return entries_[found->second].second;
  }

  Mapped& operator[](const Key& key) { return try_emplace(key).first->second; }

  template <typename... Args>
  std::pair<iterator, bool> try_emplace(const Key& key, Args&&... args) {
    const auto found = index_.find(key);
    if (found != index_.end()) {
      return {entries_.begin() + found->second, false};
    }
    entries_.emplace_back(std::piecewise_construct, std::forward_as_tuple(key),
                          std::forward_as_tuple(std::forward<Args>(args)...));
    index_.emplace(key, entries_.size() - 1);
    return {std::prev(entries_.end()), true};
  }

  template <typename Pair>
  std::pair<iterator, bool> insert(Pair&& entry) {
    value_type converted(std::forward<Pair>(entry));
    const auto found = index_.find(converted.first);
    if (found != index_.end()) {
      return {entries_.begin() + found->second, false};
    }
    index_.emplace(converted.first, entries_.size());
    entries_.push_back(std::move(converted));
    return {std::prev(entries_.end()), true};
  }
  template <typename... Args>
  std::pair<iterator, bool> emplace(Args&&... args) {
    return insert(value_type(std::forward<Args>(args)...));
  }

  size_type erase(const Key& key) {
    const auto found = index_.find(key);
    if (found == index_.end()) {
      return 0;
    }
    erase(entries_.cbegin() + found->second);
    return 1;
  }
  iterator erase(const_iterator position) {
    const auto offset = position - entries_.cbegin();
    entries_.erase(position);
    reindex();
    return entries_.begin() + offset;
  }
  void clear() noexcept {
    entries_.clear();
    index_.clear();
  }

  friend bool operator==(const OrderedTable& lhs, const OrderedTable& rhs) {
    if (lhs.size() != rhs.size()) {
      return false;
    }
    for (const auto& [key, value] : lhs.entries_) {
      const auto other = rhs.find(key);
      if (other == rhs.end() || !(other->second == value)) {
        return false;
      }
    }
    return true;
  }
  friend bool operator!=(const OrderedTable& lhs, const OrderedTable& rhs) { return !(lhs == rhs); }

 private:
  void reindex() {
    index_.clear();
    for (size_type i = 0; i < entries_.size(); ++i) {
      index_.emplace(entries_[i].first, i);
    }
  }

  container_type entries_;
  std::unordered_map<Key, size_type> index_;
};

using Value = toml::basic_value<toml::discard_comments, OrderedTable, std::vector>;
using Table = Value::table_type;
using Array = Value::array_type;

}  // namespace brindle::config::detail
