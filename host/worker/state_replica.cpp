#include "worker/state_replica.h"

#include <vector>

namespace hostd::worker {

bool StateReplica::onFrame(const std::string& payload) {
  ipc::StateMsg m;
  if (!ipc::decodeStateMsg(payload, &m)) return false;
  switch (m.kind) {
    case ipc::StateMsg::Change:
      apply(m.key, m.op == ipc::StateMsg::Del ? nullptr : &m.value);
      return true;
    case ipc::StateMsg::SnapshotChunk:
      for (auto& [k, v] : m.entries) incoming_[std::move(k)] = std::move(v);
      return true;
    case ipc::StateMsg::SnapshotEnd:
      finishSnapshot();
      return true;
    case ipc::StateMsg::Ack: {
      auto it = pending_.find(m.id);
      if (it == pending_.end()) return false;
      Pending p = it->second;
      pending_.erase(it);
      if (p.done) p.done(p.arg, m.status, m.number, m.value.data(), m.value.size());
      return true;
    }
    case ipc::StateMsg::Write:
      break;
  }
  return false;
}

void StateReplica::finishSnapshot() {
  std::map<std::string, std::string> next;
  next.swap(incoming_);
  if (!synced_) {  // the first one: nobody watches yet
    data_.insert(next.begin(), next.end());
    synced_ = true;
    return;
  }
  // A resync (Redis came back): report what differs, as individual changes.
  std::vector<std::string> gone;
  for (const auto& [k, v] : data_)
    if (!next.count(k)) gone.push_back(k);
  for (const std::string& k : gone) apply(k, nullptr);
  for (const auto& [k, v] : next) {
    auto it = data_.find(k);
    if (it == data_.end() || it->second != v) apply(k, &v);
  }
}

const std::string* StateReplica::get(std::string_view key) const {
  auto it = data_.find(key);
  return it == data_.end() ? nullptr : &it->second;
}

void StateReplica::apply(const std::string& key, const std::string* value) {
  if (value) data_[key] = *value;
  else data_.erase(key);
  notify(key, value);
}

void StateReplica::notify(const std::string& key, const std::string* value) {
  // Callbacks may add or remove watches: pick the matching ids first.
  std::vector<uint64_t> ids;
  for (const auto& [id, w] : watches_) {
    bool match = w.prefix ? key.compare(0, w.key.size(), w.key) == 0 : key == w.key;
    if (match && !w.removed) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    auto it = watches_.find(id);
    if (it == watches_.end() || it->second.removed) continue;
    Watch& w = it->second;
    w.calling = true;
    w.cb(w.arg, key.data(), key.size(), value ? value->data() : nullptr, value ? value->size() : 0, value ? 0 : 1);
    w.calling = false;
    if (w.removed) {
      release(w);
      watches_.erase(it);
    }
  }
}

int StateReplica::write(ipc::StateMsg::Op op, std::string_view key, std::string_view value, int64_t delta,
                        hostd_state_done_fn done, void* arg) {
  if (key.empty()) return HOSTD_EINVAL;
  if (key.size() + value.size() > HOSTD_MAX_MESSAGE) return HOSTD_ETOOBIG;
  ipc::StateMsg m;
  m.kind = ipc::StateMsg::Write;
  m.op = op;
  m.id = nextWriteId_++;
  m.number = delta;
  m.key.assign(key);
  m.value.assign(value);
  if (!send_(ipc::encodeStateMsg(m))) return HOSTD_EUNAVAILABLE;
  pending_.emplace(m.id, Pending{done, arg});
  return HOSTD_OK;
}

void StateReplica::failPending(int status, const std::string& why) {
  std::unordered_map<uint64_t, Pending> pending;
  pending.swap(pending_);
  for (auto& [id, p] : pending)
    if (p.done) p.done(p.arg, status, 0, why.data(), why.size());
}

uint64_t StateReplica::watch(std::string_view key, bool prefix, hostd_state_watch_fn cb, void* arg,
                             void (*dtor)(void*)) {
  if (!cb || (key.empty() && !prefix)) {
    if (dtor) dtor(arg);
    return 0;
  }
  uint64_t id = nextWatchId_++;
  Watch& w = watches_[id];
  w.key.assign(key);
  w.prefix = prefix;
  w.cb = cb;
  w.arg = arg;
  w.dtor = dtor;
  return id;
}

int StateReplica::unwatch(uint64_t id) {
  auto it = watches_.find(id);
  if (it == watches_.end() || it->second.removed) return HOSTD_ENOTFOUND;
  if (it->second.calling) {  // removed from its own callback: finish when it returns
    it->second.removed = true;
    return HOSTD_OK;
  }
  release(it->second);
  watches_.erase(it);
  return HOSTD_OK;
}

void StateReplica::release(Watch& w) {
  if (w.dtor) w.dtor(w.arg);
}

}  // namespace hostd::worker
