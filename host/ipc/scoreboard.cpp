#include "ipc/scoreboard.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <sys/mman.h>
#include <unistd.h>

namespace hostd::ipc {
namespace {
template <size_t N, class Len>
void put(char (&dst)[N], std::string_view s, Len* len) {
  size_t n = std::min(N, s.size());
  std::memcpy(dst, s.data(), n);
  *len = static_cast<Len>(n);
}
ScoreSlot* map(int fd) {
  void* p = mmap(nullptr, sizeof(ScoreSlot), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<ScoreSlot*>(p);
}
}  // namespace

uint64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

void ScoreWriter::attach(int fd) {
  if (fd < 0) return;
  slot_ = map(fd);
  close(fd);
}

void ScoreWriter::begin(std::string_view method, std::string_view target, std::string_view path,
                        std::string_view remote) {
  if (!slot_) return;
  ScoreSlot& s = *slot_;
  s.seq.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  put(s.method, method, &s.methodLen);
  put(s.target, target, &s.targetLen);
  put(s.path, path, &s.pathLen);
  if (path.size() > sizeof s.path) s.pathLen = kPathTooLong;
  put(s.remote, remote, &s.remoteLen);
  s.startedMs = monotonicMs();
  s.busy = 1;
  s.seq.fetch_add(1, std::memory_order_release);
}

void ScoreWriter::end() {
  if (!slot_) return;
  slot_->seq.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  slot_->busy = 0;
  slot_->seq.fetch_add(1, std::memory_order_release);
}

ScoreBoardSlot::ScoreBoardSlot() {
  fd_ = memfd_create("hostd-scoreboard", MFD_CLOEXEC);
  if (fd_ < 0) return;
  if (ftruncate(fd_, sizeof(ScoreSlot)) != 0 || !(slot_ = map(fd_))) {
    close(fd_);
    fd_ = -1;
  }
}

ScoreBoardSlot::~ScoreBoardSlot() {
  closeFd();
  if (slot_) munmap(slot_, sizeof(ScoreSlot));
}

void ScoreBoardSlot::closeFd() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

Score ScoreBoardSlot::read() const {
  Score out;
  if (!slot_) return out;
  const ScoreSlot& s = *slot_;
  // A worker that died mid-write leaves an odd sequence: take what is there after a few tries.
  for (int attempt = 0; attempt < 3; ++attempt) {
    uint32_t before = s.seq.load(std::memory_order_acquire);
    out.busy = s.busy != 0;
    out.method.assign(s.method, std::min<size_t>(s.methodLen, sizeof s.method));
    out.target.assign(s.target, std::min<size_t>(s.targetLen, sizeof s.target));
    out.remote.assign(s.remote, std::min<size_t>(s.remoteLen, sizeof s.remote));
    out.path.assign(s.path, s.pathLen == kPathTooLong ? 0 : std::min<size_t>(s.pathLen, sizeof s.path));
    uint64_t started = s.startedMs;
    std::atomic_thread_fence(std::memory_order_acquire);
    out.forMs = started ? monotonicMs() - std::min(started, monotonicMs()) : 0;
    if (before % 2 == 0 && s.seq.load(std::memory_order_relaxed) == before) break;
  }
  return out;
}

}  // namespace hostd::ipc
