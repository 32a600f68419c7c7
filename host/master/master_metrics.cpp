// The master, [metrics]: GET /metrics in Prometheus' text format, served from the master's
// loop out of what it already has (heartbeat counters, the core's restart and reload counts):
// the workers' loops are never asked.
#include "master/master.h"

#include <sstream>

namespace hostd::master {
namespace {

/// "# HELP" and "# TYPE" lines of a metric family.
void family(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

/// Adds a worker's monotonic counters (not its gauges) to a slot's running total.
void accumulate(ipc::Heartbeat& into, const ipc::Heartbeat& hb) {
  into.requests += hb.requests;
  into.accepted += hb.accepted;
  into.childrenRefused += hb.childrenRefused;
  into.childrenExpired += hb.childrenExpired;
  for (size_t i = 0; i < 5; ++i) into.statusClass[i] += hb.statusClass[i];
  into.bytesIn += hb.bytesIn;
  into.bytesOut += hb.bytesOut;
  into.durationSumUs += hb.durationSumUs;
  for (size_t i = 0; i < ipc::Heartbeat::kBuckets; ++i) into.durationBuckets[i] += hb.durationBuckets[i];
}

}  // namespace

void Master::startMetrics() {
  const config::Config& cfg = current_->cfg;
  if (cfg.metrics_listen.empty()) return;
  metrics_ = std::make_unique<RequestServer>(loop_);
  std::string why = metrics_->listenTcp(cfg.metrics, [this](const std::string& head, RequestServer::Reply reply) {
    const bool get = head.rfind("GET /metrics ", 0) == 0 || head.rfind("GET /metrics?", 0) == 0;
    const std::string body = get ? metricsText() : "not found: GET /metrics\n";
    reply(std::string(get ? "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                          : "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n") +
          "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  });
  if (!why.empty()) {
    metrics_.reset();
    core_.fail("[H0148] cannot serve metrics on " + cfg.metrics_listen + " ([metrics] listen in " + cfg.file +
                   "): " + why,
               1);
    apply();
    return;
  }
  log_.information("[H0148] metrics on http://" + metrics_->address() + "/metrics");
}

void Master::retireCounters(const WorkerProcess& wp) { accumulate(retired_[wp.slot], wp.counters); }

std::string Master::metricsText() {
  // Per slot: the workers gone (retired_) plus those alive, so counters never go down.
  std::map<int, ipc::Heartbeat> total = retired_;
  std::map<int, uint64_t> open, children, queued;
  for (auto& [serial, w] : workers_) {
    accumulate(total[w->slot], w->counters);
    open[w->slot] += w->counters.active;
    children[w->slot] += w->counters.children;
    queued[w->slot] += w->counters.childrenQueued;
  }
  std::ostringstream out;
  static const char* const kClass[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  family(out, "hostd_requests_total", "counter", "Requests answered, by worker slot and status class.");
  for (auto& [slot, t] : total)
    for (size_t i = 0; i < 5; ++i)
      out << "hostd_requests_total{worker=\"" << slot << "\",code=\"" << kClass[i] << "\"} " << t.statusClass[i] << "\n";
  family(out, "hostd_request_duration_seconds", "histogram",
         "Time from a request's first byte to the end of its response.");
  ipc::Heartbeat all;
  for (auto& [slot, t] : total) accumulate(all, t);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < ipc::Heartbeat::kBuckets; ++i) {
    cumulative += all.durationBuckets[i];
    out << "hostd_request_duration_seconds_bucket{le=\"";
    if (i + 1 < ipc::Heartbeat::kBuckets) out << double(ipc::Heartbeat::kDurationBoundsUs[i]) / 1e6;
    else out << "+Inf";
    out << "\"} " << cumulative << "\n";
  }
  out << "hostd_request_duration_seconds_sum " << double(all.durationSumUs) / 1e6 << "\n";
  out << "hostd_request_duration_seconds_count " << cumulative << "\n";
  family(out, "hostd_connections_accepted_total", "counter", "Connections accepted, by worker slot.");
  for (auto& [slot, t] : total) out << "hostd_connections_accepted_total{worker=\"" << slot << "\"} " << t.accepted << "\n";
  family(out, "hostd_open_connections", "gauge", "Connections open now, by worker slot.");
  for (auto& [slot, n] : open) out << "hostd_open_connections{worker=\"" << slot << "\"} " << n << "\n";
  family(out, "hostd_received_bytes_total", "counter", "Request bytes (head and body) received.");
  out << "hostd_received_bytes_total " << all.bytesIn << "\n";
  family(out, "hostd_sent_bytes_total", "counter", "Response body bytes sent.");
  out << "hostd_sent_bytes_total " << all.bytesOut << "\n";
  family(out, "hostd_worker_restarts_total", "counter",
         "Workers replaced, by reason (crash, hung, suicide, recycle, reload, spawn_failure).");
  for (const char* reason : {"crash", "hung", "suicide", "recycle", "reload", "spawn_failure"}) {
    auto it = core_.restartsByReason().find(reason);
    out << "hostd_worker_restarts_total{reason=\"" << reason << "\"} "
        << (it == core_.restartsByReason().end() ? 0 : it->second) << "\n";
  }
  family(out, "hostd_reloads_total", "counter", "Reloads, by result (finished, refused, rolled_back).");
  for (const char* result : {"finished", "refused", "rolled_back"}) {
    auto it = core_.reloadsByResult().find(result);
    out << "hostd_reloads_total{result=\"" << result << "\"} " << (it == core_.reloadsByResult().end() ? 0 : it->second)
        << "\n";
  }
  family(out, "hostd_state_writes_total", "counter", "Shared-state writes received from workers.");
  out << "hostd_state_writes_total " << stateWrites_ << "\n";
  family(out, "hostd_child_processes", "gauge", "Child processes the plugins run now, by worker slot.");
  for (auto& [slot, n] : children) out << "hostd_child_processes{worker=\"" << slot << "\"} " << n << "\n";
  family(out, "hostd_child_processes_queued", "gauge",
         "exec/spawn calls waiting for a free child slot ([children] max_per_worker), by worker slot.");
  for (auto& [slot, n] : queued) out << "hostd_child_processes_queued{worker=\"" << slot << "\"} " << n << "\n";
  family(out, "hostd_child_processes_refused_total", "counter",
         "exec/spawn calls that did not start: queue full (refused) or queue_timeout_ms passed (timed_out).");
  for (auto& [slot, t] : total) {
    out << "hostd_child_processes_refused_total{worker=\"" << slot << "\",reason=\"queue_full\"} " << t.childrenRefused
        << "\n";
    out << "hostd_child_processes_refused_total{worker=\"" << slot << "\",reason=\"timed_out\"} " << t.childrenExpired
        << "\n";
  }
  family(out, "hostd_quarantined_routes_total", "counter", "Routes quarantined after crashing or hanging workers.");
  out << "hostd_quarantined_routes_total " << quarantines_ << "\n";
  family(out, "hostd_workers", "gauge", "Worker processes, by state.");
  std::map<std::string, int> states = {{"starting", 0}, {"ready", 0}, {"stopping", 0}};
  for (auto& [serial, w] : workers_) ++states[ClusterCore::stateName(stateOf(*w))];
  for (auto& [state, n] : states) out << "hostd_workers{state=\"" << state << "\"} " << n << "\n";
  family(out, "hostd_generation", "gauge", "The generation (config and plugin build) being served.");
  out << "hostd_generation " << core_.generation() << "\n";
  return out.str();
}

}  // namespace hostd::master
