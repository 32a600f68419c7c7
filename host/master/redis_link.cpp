#include "master/redis_link.h"

#include <hostd/plugin.h>

#include <Poco/Exception.h>
#include <Poco/Logger.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Redis/Array.h>
#include <Poco/Redis/Client.h>
#include <Poco/Redis/Exception.h>
#include <Poco/Redis/RedisStream.h>

#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <random>
#include <sys/socket.h>
#include <vector>

namespace hostd::master {
namespace {

using Poco::Redis::Array;
using Poco::Redis::BulkString;
using Poco::Redis::RedisType;

// Each write and its PUBLISH run as one script: atomic, so changes are published in
// write order. INCR re-reads the value as a string (Lua numbers are doubles).
const char* kSetScript = "redis.call('SET', KEYS[1], ARGV[1]) redis.call('PUBLISH', KEYS[2], ARGV[2]) return 1";
const char* kDelScript = "redis.call('DEL', KEYS[1]) redis.call('PUBLISH', KEYS[2], ARGV[1]) return 1";
const char* kIncrScript =
    "redis.call('INCRBY', KEYS[1], ARGV[1]) local s = redis.call('GET', KEYS[1]) "
    "redis.call('PUBLISH', KEYS[2], ARGV[2] .. s) return s";

constexpr unsigned kFirstBackoffMs = 100;
constexpr unsigned kMaxBackoffMs = 5000;
constexpr size_t kMaxPipeline = 256;
constexpr unsigned kPingEveryMs = 1000;

uint64_t steadyMs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch()).count());
}

/// SCAN's MATCH is a glob: the prefix must match itself only.
std::string globEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

/// One reply, read the way Poco's Client::readReply does, from our own socket's stream.
RedisType::Ptr readReply(Poco::Redis::RedisInputStream& in) {
  int marker = in.get();
  if (marker == EOF) throw Poco::IOException("connection closed");
  RedisType::Ptr reply = RedisType::createRedisType(char(marker));
  if (reply.isNull()) throw Poco::Redis::RedisException("invalid reply type '" + std::string(1, char(marker)) + "'");
  reply->read(in);
  return reply;
}

const Array* asArray(const RedisType::Ptr& r) {
  auto* t = dynamic_cast<const Poco::Redis::Type<Array>*>(r.get());
  return t ? &t->value() : nullptr;
}

/// One write as its script, which also publishes it as rc (an incr's new value appended).
Array buildWrite(const std::string& prefix, const std::string& channel, RedisChange rc, const ipc::StateMsg& w) {
  const std::string key = prefix + w.key;
  rc.change = makeChange(w.key, w.op == ipc::StateMsg::Del ? nullptr : &w.value);
  Array cmd;
  if (w.op == ipc::StateMsg::Set) {
    cmd << "EVAL" << kSetScript << "2" << key << channel << w.value << encodeRedisChange(rc);
  } else if (w.op == ipc::StateMsg::Del) {
    cmd << "EVAL" << kDelScript << "2" << key << channel << encodeRedisChange(rc);
  } else {
    rc.change.value.clear();  // the script appends the new value
    cmd << "EVAL" << kIncrScript << "2" << key << channel << std::to_string(w.number) << encodeRedisChange(rc);
  }
  return cmd;
}

/// The outcome of one write from its reply: an incr's new value, or why Redis refused it.
StateResult readResult(const RedisType::Ptr& reply, const ipc::StateMsg& w) {
  StateResult r;
  if (auto* err = dynamic_cast<const Poco::Redis::Type<Poco::Redis::Error>*>(reply.get())) {
    const std::string msg = err->value().getMessage();
    bool notInteger = msg.find("not an integer") != std::string::npos || msg.find("overflow") != std::string::npos;
    r.status = notInteger ? HOSTD_EINVAL : HOSTD_ERROR;
    r.error = notInteger ? "incr: the value of \"" + w.key + "\" is not an integer (or would overflow)"
                         : "shared state: redis refused the write: " + msg;
  } else if (auto* bulk = dynamic_cast<const Poco::Redis::Type<BulkString>*>(reply.get())) {
    r.value = parseCounter(bulk->value().isNull() ? std::string() : bulk->value().value()).value_or(0);
  }
  return r;
}

/// What a new connection sends first: AUTH and SELECT, as the url asks.
std::vector<Array> loginCommands(const config::StateConfig& cfg) {
  std::vector<Array> cmds;
  if (!cfg.redis_password.empty() || !cfg.redis_user.empty()) {
    Array auth;
    auth << "AUTH";
    if (!cfg.redis_user.empty()) auth << cfg.redis_user;
    auth << cfg.redis_password;
    cmds.push_back(auth);
  }
  if (cfg.redis_db != 0) {
    Array select;
    select << "SELECT" << std::to_string(cfg.redis_db);
    cmds.push_back(select);
  }
  return cmds;
}

[[noreturn]] void loginRefused(const std::string& why) {
  throw Poco::IOException("redis refused the login (check the user, password and db in [state] url): " + why);
}

/// A command connection, logged in.
void connectClient(Poco::Redis::Client& c, const config::StateConfig& cfg, const Poco::Timespan& timeout) {
  c.connect(cfg.redis_host, cfg.redis_port, timeout);
  c.setReceiveTimeout(timeout);
  for (const Array& cmd : loginCommands(cfg)) {
    try {
      c.execute<std::string>(cmd);
    } catch (const Poco::Redis::RedisException& e) {
      loginRefused(e.message());
    }
  }
}

std::string randomOrigin() {
  std::random_device rd;
  uint64_t v = (uint64_t(rd()) << 32) ^ rd();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(v));
  return hex;
}

}  // namespace

std::string encodeRedisChange(const RedisChange& rc) {
  if (rc.ping) return rc.origin + " 0 p";
  const ipc::StateMsg& c = rc.change;
  std::string out = rc.origin + " " + std::to_string(rc.seq) + " " + (c.op == ipc::StateMsg::Del ? "d" : "s") +
                    std::to_string(c.key.size()) + ":" + c.key;
  if (c.op != ipc::StateMsg::Del) out += c.value;
  return out;
}

bool decodeRedisChange(const std::string& text, RedisChange* rc) {
  size_t sp1 = text.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : text.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || sp1 == 0 || sp2 == sp1 + 1) return false;
  std::optional<int64_t> seq = parseCounter(text.substr(sp1 + 1, sp2 - sp1 - 1));
  size_t op = sp2 + 1;
  if (seq && text.compare(op, std::string::npos, "p") == 0) {
    rc->origin = text.substr(0, sp1);
    rc->seq = 0;
    rc->ping = true;
    return true;
  }
  if (!seq || *seq < 0 || text.size() < op + 3 || (text[op] != 's' && text[op] != 'd')) return false;
  size_t colon = text.find(':', op);
  if (colon == std::string::npos || colon == op + 1) return false;
  size_t keyLen = 0;
  for (size_t i = op + 1; i < colon; ++i) {
    if (text[i] < '0' || text[i] > '9' || keyLen > text.size()) return false;
    keyLen = keyLen * 10 + size_t(text[i] - '0');
  }
  if (colon + 1 + keyLen > text.size()) return false;
  bool del = text[op] == 'd';
  if (del && colon + 1 + keyLen != text.size()) return false;
  rc->origin = text.substr(0, sp1);
  rc->seq = uint64_t(*seq);
  rc->ping = false;
  rc->change.kind = ipc::StateMsg::Change;
  rc->change.op = del ? ipc::StateMsg::Del : ipc::StateMsg::Set;
  rc->change.key = text.substr(colon + 1, keyLen);
  rc->change.value = del ? std::string() : text.substr(colon + 1 + keyLen);
  return true;
}

RedisLink::RedisLink(uv_loop_t* loop, const config::StateConfig& cfg, Events events)
    : loop_(loop),
      cfg_(cfg),
      events_(std::move(events)),
      origin_(randomOrigin()),
      // Pub/sub ignores the db: the db is part of the channel, so /1 and /2 stay apart.
      channel_(cfg.prefix + "changes" + (cfg.redis_db ? "@" + std::to_string(cfg.redis_db) : std::string())) {}

RedisLink::~RedisLink() { close(); }

void RedisLink::start() {
  if (started_) return;
  started_ = true;
  uv_async_init(loop_, &async_, [](uv_async_t* a) { static_cast<RedisLink*>(a->data)->drainPosted(); });
  async_.data = this;
  commands_ = std::thread([this] { commandThread(); });
  subscriber_ = std::thread([this] { subscriberThread(); });
}

void RedisLink::close() {
  if (!started_ || closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (subscriberFd_ >= 0) ::shutdown(subscriberFd_, SHUT_RDWR);  // wakes its blocking read
  }
  cv_.notify_all();
  commands_.join();
  subscriber_.join();
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void RedisLink::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void RedisLink::drainPosted() {
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

bool RedisLink::pause(unsigned ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

void RedisLink::setUp(bool up, const std::string& why) {
  if (up_.exchange(up ? 1 : 0) == (up ? 1 : 0)) return;
  std::string where = cfg_.redis_host + ":" + std::to_string(cfg_.redis_port);
  post([this, up, why, where] {
    Poco::Logger& log = Poco::Logger::get("master");
    if (up) log.information("[H0135] shared state: connected to redis at " + where + "; state loaded");
    else log.error("[H0136] shared state: redis at " + where + " is unreachable (" + why +
                   "); state writes fail with HOSTD_EUNAVAILABLE; reconnecting with backoff");
    if (events_.status) events_.status(up);
  });
}

void RedisLink::write(const ipc::StateMsg& w, WriteDone done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(Job{w, std::move(done), nextSeq_++, {}});
  }
  cv_.notify_all();
}

void RedisLink::commandThread() {
  const std::string where = cfg_.redis_host + ":" + std::to_string(cfg_.redis_port);
  const Poco::Timespan timeout(Poco::Timespan::TimeDiff(cfg_.timeout_ms) * 1000);
  Poco::Redis::Client client;
  bool connected = false;
  unsigned backoff = kFirstBackoffMs;
  uint64_t retryAt = 0;
  std::string lastError;
  // A failure starts (or extends) the backoff; within it writes fail without trying.
  auto unavailable = [&](const std::string& why) {
    if (!connected && steadyMs() < retryAt) return;
    lastError = "shared state: redis at " + where + " is unreachable (" + why + "); hostd is reconnecting";
    retryAt = steadyMs() + backoff;
    backoff = std::min(backoff * 2, kMaxBackoffMs);
  };
  uint64_t lastPublishMs = 0;
  for (;;) {
    bool batchDone = false;
    bool sent = false;
    // Everything queued goes out as one pipeline: one round trip for a burst of writes.
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(kPingEveryMs), [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      while (!jobs_.empty() && batch.size() < kMaxPipeline) {
        batch.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
      }
    }
    checkSubscription();
    try {
      if (!connected) {
        if (steadyMs() < retryAt) throw Poco::IOException(lastError);
        client.disconnect();
        connectClient(client, cfg_, timeout);
        connected = true;
      }
      if (!batch.empty()) {
        std::vector<Array> cmds;
        for (const Job& job : batch)
          cmds.push_back(buildWrite(cfg_.prefix, channel_, RedisChange{origin_, job.seq, {}}, job.write));
        sent = true;  // from here a failure leaves the writes' fate unknown
        Array replies = client.sendCommands(cmds);
        if (replies.size() != batch.size()) throw Poco::IOException("short pipeline reply");
        size_t i = 0;
        bool anyPublished = false;
        for (auto it = replies.begin(); it != replies.end(); ++it, ++i) {
          batch[i].result = readResult(*it, batch[i].write);
          anyPublished |= batch[i].result.status == HOSTD_OK;
        }
        batchDone = true;
        if (anyPublished) published(&lastPublishMs);
        backoff = kFirstBackoffMs;
      }
      // Nothing of ours went through the subscription for a second (idle, or only refused
      // writes): a ping, so the watchdog always has something to expect back.
      if (steadyMs() - lastPublishMs >= kPingEveryMs) {
        Array ping;
        ping << "PUBLISH" << channel_ << encodeRedisChange(RedisChange{origin_, 0, {}, true});
        client.execute<Poco::Int64>(ping);
        published(&lastPublishMs);
      }
    } catch (const Poco::Exception& e) {  // no connection, or it broke (Poco: "Lost connection")
      unavailable(e.displayText());
      connected = false;
      // (A failed ping after the batch leaves its results as they are.) A write refused
      // before it was sent (no connection, or within the backoff) was not applied; one sent
      // on a connection that broke before its reply may or may not have been.
      const std::string outcome = sent ? "; the write was sent and may or may not have been applied"
                                       : "; the write was not sent, so it was not applied";
      if (!batchDone)
        for (Job& job : batch) job.result = StateResult{HOSTD_EUNAVAILABLE, 0, lastError + outcome};
    }
    if (batch.empty()) continue;
    completedSeq_ = batch.back().seq;
    post([batch = std::move(batch)] {
      for (const Job& job : batch) job.done(job.result, job.seq);
    });
  }
}

void RedisLink::published(uint64_t* lastPublishMs) {
  *lastPublishMs = steadyMs();
  std::lock_guard<std::mutex> lock(mu_);
  if (unechoedSince_ == 0) unechoedSince_ = *lastPublishMs;
}

std::map<std::string, std::string> RedisLink::loadAll(std::vector<std::string>* oversized) {
  const Poco::Timespan timeout(Poco::Timespan::TimeDiff(cfg_.timeout_ms) * 1000);
  std::map<std::string, std::string> all;
  Poco::Redis::Client loader;
  connectClient(loader, cfg_, timeout);
  std::string cursor = "0";
  do {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) throw Poco::IOException("stopping");
    }
    Array scan;
    scan << "SCAN" << cursor << "MATCH" << globEscape(cfg_.prefix) + "*" << "COUNT" << "1000";
    Array reply = loader.execute<Array>(scan);
    cursor = reply.get<BulkString>(0).value();
    Array keys = reply.get<Array>(1);
    if (keys.isNull() || keys.size() == 0) continue;
    Array mget;
    mget << "MGET";
    for (size_t i = 0; i < keys.size(); ++i) mget << keys.get<BulkString>(i).value();
    Array values = loader.execute<Array>(mget);
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string k = keys.get<BulkString>(i).value().substr(cfg_.prefix.size());
      BulkString v = values.get<BulkString>(i);
      if (v.isNull()) continue;  // gone meanwhile, or not a string
      if (k.size() + v.value().size() > HOSTD_MAX_MESSAGE) oversized->push_back(k);
      else all[k] = v.value();
    }
  } while (cursor != "0");
  return all;
}

void RedisLink::subscriberThread() {
  const Poco::Timespan timeout(Poco::Timespan::TimeDiff(cfg_.timeout_ms) * 1000);
  unsigned backoff = kFirstBackoffMs;
  for (;;) {
    std::string why;
    try {
      Poco::Net::StreamSocket sock;
      sock.connect(Poco::Net::SocketAddress(cfg_.redis_host, cfg_.redis_port), timeout);
      fcntl(sock.impl()->sockfd(), F_SETFD, FD_CLOEXEC);  // Poco does not; workers close strays too
      sock.setKeepAlive(true);
      // Until it streams, every reply is due within timeout_ms: a server that accepts and
      // never answers must fail this attempt (and let start-up go on), not hold it forever.
      sock.setReceiveTimeout(timeout);
      struct Registered {  // the fd close() and the watchdog may shut down, valid while sock lives
        RedisLink* self;
        Registered(RedisLink* s, int fd) : self(s) {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->subscriberFd_ = fd;
          if (self->stopping_) ::shutdown(fd, SHUT_RDWR);
        }
        ~Registered() {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->subscriberFd_ = -1;
          self->streaming_ = false;
        }
      } registered(this, sock.impl()->sockfd());
      Poco::Redis::RedisOutputStream out(sock);
      Poco::Redis::RedisInputStream in(sock);
      for (const Array& cmd : loginCommands(cfg_)) {
        out << cmd.toString();
        out.flush();
        RedisType::Ptr reply = readReply(in);
        if (auto* err = dynamic_cast<const Poco::Redis::Type<Poco::Redis::Error>*>(reply.get()))
          loginRefused(err->value().getMessage());
      }
      Array sub;
      sub << "SUBSCRIBE" << channel_;
      out << sub.toString();
      out.flush();
      readReply(in);  // ["subscribe", channel, 1]

      // Everything under the prefix, loaded after subscribing: changes made meanwhile wait
      // in the socket and are applied after the reset, in order.
      // Writes completed by now are in what the load reads (or in a later value).
      const uint64_t watermark = completedSeq_;
      std::vector<std::string> oversized;
      std::map<std::string, std::string> all = loadAll(&oversized);
      reportOversized(oversized);
      post([this, all = std::move(all), watermark]() mutable { events_.reset(std::move(all), watermark); });
      setUp(true, "");
      backoff = kFirstBackoffMs;
      sock.setReceiveTimeout(Poco::Timespan(0));  // streaming: silence is checkSubscription()'s
      {
        std::lock_guard<std::mutex> lock(mu_);
        streaming_ = true;
        unechoedSince_ = 0;  // what was published before this subscription will not echo
      }
      for (;;) {
        RedisType::Ptr r = readReply(in);
        const Array* a = asArray(r);
        if (!a || a->size() != 3 || a->get<BulkString>(0).value() != "message") continue;
        RedisChange rc;
        if (!decodeRedisChange(a->get<BulkString>(2).value(), &rc)) continue;
        if (rc.origin == origin_) {
          std::lock_guard<std::mutex> lock(mu_);
          unechoedSince_ = 0;
        }
        if (rc.ping) continue;
        if (rc.change.key.size() + rc.change.value.size() > HOSTD_MAX_MESSAGE) {
          reportOversized({rc.change.key});  // written by another Redis client
          rc.change = makeChange(rc.change.key, nullptr);
        }
        uint64_t ownSeq = rc.origin == origin_ ? rc.seq : 0;
        post([this, change = std::move(rc.change), ownSeq] { events_.change(change, ownSeq); });
      }
    } catch (const Poco::Exception& e) {
      why = e.displayText();
    } catch (const std::exception& e) {
      why = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    setUp(false, why);
    if (!pause(backoff)) return;
    backoff = std::min(backoff * 2, kMaxBackoffMs);
  }
}

void RedisLink::reportOversized(const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  post([n = keys.size(), first = keys.front()] {
    Poco::Logger::get("master").warning(
        "[H0139] shared state: " + std::to_string(n) + " Redis value(s) (first: \"" + first +
        "\") exceed key + value = " + std::to_string(HOSTD_MAX_MESSAGE) + " bytes; workers see them as absent");
  });
}

void RedisLink::checkSubscription() {
  // Called by the command thread: something we published successfully has not come back
  // through the subscription for this long, so it is dead even if TCP has not noticed (a
  // NAT, a partition): cut it, the subscriber reconnects.
  const uint64_t limit = cfg_.timeout_ms + 2 * kPingEveryMs;
  std::lock_guard<std::mutex> lock(mu_);
  if (streaming_ && subscriberFd_ >= 0 && unechoedSince_ && steadyMs() - unechoedSince_ > limit) {
    streaming_ = false;
    unechoedSince_ = 0;
    ::shutdown(subscriberFd_, SHUT_RDWR);
  }
}

}  // namespace hostd::master
