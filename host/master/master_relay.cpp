// The master, fan-out to workers: shared-state writes and changes, plugin messages,
// route quarantines; bounded towards workers that are still starting.
#include "master/master.h"

#include "app/logging.h"
#include "ipc/message.h"

namespace hostd::master {

bool Master::backlogged(WorkerProcess& wp) {
  if (wp.stateStale) return true;
  if (!wp.channel || wp.channel->queuedBytes() <= kStartingQueueCap || stateOf(wp) != ClusterCore::State::Starting)
    return false;
  wp.stateStale = true;  // the queue stops growing here
  return true;
}

void Master::sendSnapshot(WorkerProcess& wp) {
  if (!wp.channel) return;
  for (const std::string& part : state_->snapshot()) wp.channel->send(ipc::MsgType::State, part);
}

void Master::onStateWrite(WorkerProcess& from, const std::string& frame) {
  ipc::StateMsg m;
  if (!ipc::decodeStateMsg(frame, &m) || m.kind != ipc::StateMsg::Write) {
    protocolError(from, "sent a malformed state frame");
    return;
  }
  ++stateWrites_;
  state_->write(m, [this, serial = from.serial, id = m.id, op = m.op](const StateResult& r) {
    WorkerProcess* w = find(serial);
    if (!w || !w->channel) return;  // the writer is gone; the change went to everyone else
    ipc::StateMsg ack;
    ack.kind = ipc::StateMsg::Ack;
    ack.op = op;
    ack.id = id;
    ack.status = r.status;
    ack.number = r.value;
    ack.value = r.error;
    w->channel->send(ipc::MsgType::State, ipc::encodeStateMsg(ack));
  });
}

void Master::relay(WorkerProcess& from, const std::string& frame) {
  ipc::PluginMessage m;
  if (!ipc::decodePluginMessage(frame, &m) || m.kind == ipc::PluginMessage::Deliver) {
    protocolError(from, "malformed message frame");
    return;
  }
  ipc::PluginMessage out = m;
  out.kind = ipc::PluginMessage::Deliver;
  out.from = uint32_t(from.slot);
  const std::string encoded = ipc::encodePluginMessage(out);
  // Every live worker gets it: a starting one after its init (it holds messages until
  // then), a draining one because it may still answer a request. During a handover a
  // slot has two workers: both get it.
  size_t delivered = 0;
  for (auto& [serial, w] : workers_) {
    if (m.kind == ipc::PluginMessage::Broadcast && !m.includeSelf && serial == from.serial) continue;
    if (m.kind == ipc::PluginMessage::SendTo && w->slot != int(m.target)) continue;
    if (w->channel && backlogged(*w)) {
      if (w->droppedMessages++ == 0)
        log_.warning("[H0143] " + describe(*w) + " is still starting with " +
                     std::to_string(w->channel->queuedBytes()) + " bytes queued: plugin messages to it are dropped "
                     "until it is ready (counted)");
      continue;
    }
    delivered += w->channel && w->channel->send(ipc::MsgType::Message, encoded);
  }
  if (m.kind == ipc::PluginMessage::SendTo && delivered == 0)
    log_.warning("[H0134] message \"" + app::logSafe(m.topic, 128) + "\" from worker " + std::to_string(from.slot) + " to worker " +
                 std::to_string(m.target) + " dropped: that slot has no worker");
}

void Master::countPoison(const ipc::Score& sc) {
  if (sc.path.empty()) return;  // too long to be a route key: never quarantine a guess
  // The worker's own parse of the path: the same key it checks (not re-derived from the target).
  const std::string route = sc.method + " " + sc.path;
  const size_t hits = poison_.hit(route, now());
  if (!hits) return;
  const unsigned seconds = current_->cfg.quarantine_seconds;
  log_.critical("[H0142] quarantining " + app::logSafe(route, 300) + " for " + std::to_string(seconds) +
                " s: it crashed or hung a worker " + std::to_string(hits) + " times within " + std::to_string(seconds) +
                " s (last from " + app::logSafe(sc.remote, 48) + "); workers answer it 503 without running the plugin "
                "(quarantine #" + std::to_string(++quarantines_) + "; a reload clears it)");
  for (auto& [serial, w] : workers_)
    if (w->channel) w->channel->send(ipc::MsgType::Quarantine, std::to_string(seconds) + " " + route);
}

void Master::sendQuarantines(WorkerProcess& wp) {
  if (!wp.channel) return;
  for (const auto& [route, msLeft] : poison_.active(now()))
    wp.channel->send(ipc::MsgType::Quarantine, std::to_string((msLeft + 999) / 1000) + " " + route);
}

}  // namespace hostd::master
