// The master, sockets: the reuseport group (one socket per slot) and round_robin dispatch
// (the master accepts, then hands each connection to the next ready worker).
#include "master/master.h"

#include "ipc/fd_passing.h"

namespace hostd::master {

int Master::listenFdFor(int slotId) {
  if (slotId == 1) return listenFd_;
  auto it = slotListeners_.find(slotId);
  if (it == slotListeners_.end()) it = slotListeners_.emplace(slotId, Listener::join(listener_, current_->cfg)).first;
  return it->second.fd();
}

void Master::retireSlotSocket(int slotId) {
  // A slot dropped by a reload, or every extra slot once reuseport was switched off: once
  // its last worker is gone nobody accepts on its socket; close it. (New connections were
  // already steered away from it, and its workers took what was queued before leaving.)
  const bool reusePort = current_->cfg.scheduling == config::Scheduling::ReusePort;
  if ((reusePort && slotId <= int(current_->cfg.workers)) || core_.phase() == ClusterCore::Phase::Rolling) return;
  auto it = slotListeners_.find(slotId);
  if (it == slotListeners_.end()) return;
  for (auto& [serial, w] : workers_)
    if (w->listenFd == it->second.fd()) return;
  slotListeners_.erase(it);
  log_.information("[H0132] reuseport socket of retired slot " + std::to_string(slotId) + " closed");
}

void Master::steerForScheduling() {
  // Leaving reuseport: every new connection goes to the main socket, which the new
  // workers accept on, while the old slots drain theirs. Entering it: back to the hash.
  const bool reusePort = current_->cfg.scheduling == config::Scheduling::ReusePort;
  if (reusePort == !steered_) return;
  if (int rc = listener_.steerGroupToSelf(!reusePort); rc != 0) {
    log_.error(std::string("[H0133] cannot steer the SO_REUSEPORT group: ") + std::strerror(-rc));
    return;
  }
  steered_ = !reusePort;
}

void Master::updateAccepting() {
  bool want = false;
  if (!core_.stopping()) {
    for (auto& [serial, w] : workers_) want |= w->handoffFd >= 0 && stateOf(*w) == ClusterCore::State::Ready;
  }
  if (want == accepting_) return;
  accepting_ = want;
  if (want) {
    uv_poll_start(&acceptPoll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
      if (status == 0) static_cast<Master*>(h->data)->acceptAndDispatch();
    });
  } else {
    uv_poll_stop(&acceptPoll_);
  }
}

void Master::acceptAndDispatch() {
  for (int i = 0; i < 64; ++i) {  // bounded: frames and signals get their turn
    ipc::Accepted c;
    c.peerLen = sizeof c.peer;
    c.fd = accept4(listenFd_, reinterpret_cast<sockaddr*>(&c.peer), &c.peerLen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c.fd >= 0) {
      dispatch(c);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED) {
      // Out of fds or memory: the connection stays queued; pause until the next tick.
      log_.error(std::string("[H0130] accept() failed in the master: ") + std::strerror(errno) +
                 "; pausing round_robin accepts for a second");
      uv_poll_stop(&acceptPoll_);
      accepting_ = false;
    }
    return;
  }
}

bool Master::dispatch(const ipc::Accepted& c) {
  std::vector<WorkerProcess*> ready;
  for (auto& [serial, w] : workers_) {
    if (w->handoffFd >= 0 && stateOf(*w) == ClusterCore::State::Ready) ready.push_back(w);
  }
  for (size_t k = 0; k < ready.size(); ++k) {
    WorkerProcess* w = ready[(rrNext_ + k) % ready.size()];
    if (ipc::sendFd(w->handoffFd, c) == 0) {
      rrNext_ = (rrNext_ + k + 1) % ready.size();
      ++w->handedOff;
      close(c.fd);  // the worker has its own copy now
      return true;
    }
  }
  close(c.fd);  // nobody could take it: the client sees a closed connection, we leak nothing
  if (++dropped_ == 1 || dropped_ % 1000 == 0)
    log_.warning("[H0131] round_robin: no ready worker could take a connection (" + std::to_string(dropped_) +
                 " dropped so far)");
  return false;
}

}  // namespace hostd::master
