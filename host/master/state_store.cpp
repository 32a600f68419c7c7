#include "master/state_store.h"

#include <hostd/plugin.h>

#include <charconv>

namespace hostd::master {

std::optional<int64_t> parseCounter(const std::string& text) {
  if (text.empty()) return 0;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

ipc::StateMsg makeChange(const std::string& key, const std::string* value) {
  ipc::StateMsg c;
  c.kind = ipc::StateMsg::Change;
  c.op = value ? ipc::StateMsg::Set : ipc::StateMsg::Del;
  c.key = key;
  if (value) c.value = *value;
  return c;
}

StateResult StateStore::apply(const ipc::StateMsg& w, ipc::StateMsg* change) {
  StateResult r;
  switch (w.op) {
    case ipc::StateMsg::Set:
      data_[w.key] = w.value;
      *change = makeChange(w.key, &w.value);
      break;
    case ipc::StateMsg::Del:
      data_.erase(w.key);
      *change = makeChange(w.key, nullptr);
      break;
    case ipc::StateMsg::Incr: {
      auto it = data_.find(w.key);
      std::optional<int64_t> now = parseCounter(it == data_.end() ? std::string() : it->second);
      int64_t next = 0;
      if (!now) {
        r.status = HOSTD_EINVAL;
        r.error = "incr: the value of \"" + w.key + "\" is not an integer";
        return r;
      }
      if (__builtin_add_overflow(*now, w.number, &next)) {
        r.status = HOSTD_EINVAL;
        r.error = "incr: \"" + w.key + "\" would overflow a 64-bit integer";
        return r;
      }
      std::string text = std::to_string(next);
      data_[w.key] = text;
      *change = makeChange(w.key, &text);
      r.value = next;
      break;
    }
  }
  return r;
}

bool StateStore::applyChange(const ipc::StateMsg& c) {
  if (c.op == ipc::StateMsg::Del) return data_.erase(c.key) > 0;
  auto [it, inserted] = data_.try_emplace(c.key, c.value);
  if (inserted) return true;
  if (it->second == c.value) return false;
  it->second = c.value;
  return true;
}

}  // namespace hostd::master
