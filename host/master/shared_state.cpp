#include "master/shared_state.h"

#include "ipc/frame.h"
#include "master/redis_link.h"

#include <hostd/plugin.h>

#include <algorithm>
#include <cstdint>
#include <utility>

namespace hostd::master {

SharedState::SharedState(uv_loop_t* loop, const config::StateConfig& cfg, Sinks sinks)
    : cfg_(cfg), sinks_(std::move(sinks)) {
  if (cfg_.backend != config::StateConfig::Backend::Redis) {
    ready_ = true;
    return;
  }
  RedisLink::Events ev;
  ev.reset = [this](std::map<std::string, std::string> all, uint64_t through) {
    store_.reset(std::move(all));
    sinks_.reset();
    ackUpTo(through);  // the replicas now show these writes; later ones still echo
  };
  ev.change = [this](const ipc::StateMsg& c, uint64_t ownSeq) {
    if (store_.applyChange(c)) push(c);
    if (ownSeq) {
      echoed_ = std::max(echoed_, ownSeq);
      ackUpTo(ownSeq);
    }
  };
  ev.status = [this](bool up) {
    if (up || cfg_.wait_for_redis_s == 0) becomeReady();
  };
  redis_ = std::make_unique<RedisLink>(loop, cfg_, std::move(ev));
  redis_->start();
  // A write's own change may never come back (Redis restarted in between): past the
  // timeout its completion runs anyway — the write itself was applied.
  // The same timer ends a start-up that waits for Redis in vain.
  uv_timer_init(loop, &ackTimer_);
  ackTimer_.data = this;
  waitUntilMs_ = uv_now(loop) + cfg_.wait_for_redis_s * 1000ull;
  uv_timer_start(&ackTimer_, [](uv_timer_t* t) {
    auto* self = static_cast<SharedState*>(t->data);
    uint64_t now = uv_now(t->loop);
    if (self->cfg_.wait_for_redis_s && !self->ready_ && now >= self->waitUntilMs_ && self->onGiveUp_)
      std::exchange(self->onGiveUp_, nullptr)();
    while (!self->acks_.empty() && now - self->acks_.front().parkedAt > self->cfg_.timeout_ms) {
      PendingAck a = std::move(self->acks_.front());
      self->acks_.pop_front();
      a.done(a.result);
    }
  }, 500, 500);
  timerOpen_ = true;
}

SharedState::~SharedState() { close(); }

void SharedState::push(const ipc::StateMsg& change) { sinks_.change(ipc::encodeStateMsg(change)); }

void SharedState::write(const ipc::StateMsg& w, DoneFn done) {
  if (w.key.empty() || w.key.size() + w.value.size() > HOSTD_MAX_MESSAGE) {
    done(StateResult{HOSTD_EINVAL, 0, "shared state: empty key or key + value over " +
                                           std::to_string(HOSTD_MAX_MESSAGE) + " bytes"});
    return;
  }
  if (!redis_) {
    ipc::StateMsg change;
    StateResult r = store_.apply(w, &change);
    if (r.status == HOSTD_OK) push(change);
    done(r);
    return;
  }
  redis_->write(w, [this, done = std::move(done)](const StateResult& r, uint64_t seq) {
    if (r.status != HOSTD_OK || seq <= echoed_) done(r);
    else acks_.push_back(PendingAck{seq, uv_now(ackTimer_.loop), done, r});
  });
}

void SharedState::ackUpTo(uint64_t seq) {
  while (!acks_.empty() && acks_.front().seq <= seq) {
    PendingAck a = std::move(acks_.front());
    acks_.pop_front();
    a.done(a.result);
  }
}

void SharedState::becomeReady() {
  if (ready_) return;
  ready_ = true;
  onGiveUp_ = nullptr;
  if (onReady_) std::exchange(onReady_, nullptr)();
}

void SharedState::whenReady(std::function<void()> fn, std::function<void()> giveUp) {
  if (ready_) {
    fn();
    return;
  }
  onReady_ = std::move(fn);
  onGiveUp_ = std::move(giveUp);
}

std::vector<std::string> SharedState::snapshot() const { return ipc::encodeSnapshot(store_.data(), ipc::kMaxPayload); }

std::string SharedState::describe() const {
  if (!redis_) return "embedded";
  return "redis " + cfg_.redactedUrl() + " (prefix \"" + cfg_.prefix + "\")";
}

void SharedState::close() {
  if (redis_) redis_->close();
  if (timerOpen_) uv_close(reinterpret_cast<uv_handle_t*>(&ackTimer_), nullptr);
  timerOpen_ = false;
}

}  // namespace hostd::master
