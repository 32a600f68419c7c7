// The access log ([log] access, access_format): one line per finished request, formatted
// on the worker's loop into a buffer that is written with O_APPEND when it passes 32 KiB,
// at least every second, and when the worker exits. Workers share the file: each write is
// whole lines, so lines never interleave.
#pragma once

#include "http/server.h"

#include <uv.h>

#include <cstdint>
#include <ctime>
#include <string>

namespace hostd::worker {

class AccessLog {
 public:
  enum class Format { Combined, Json };
  /// Opens `path` for appending (created 0640 if missing). Returns "" or why not.
  std::string open(const std::string& path, Format format, int workerSlot);
  /// Starts the once-a-second flush on `loop` (an unref'd timer: it never keeps a worker alive).
  void start(uv_loop_t* loop);
  /// Formats one request into the buffer.
  void record(const http::Server::Completed& e);
  /// Writes what is buffered.
  void flush();
  /// logrotate moved the file: write what is buffered to the old one, then open the path
  /// again (the master created it, owned by the workers' user). Returns "" or why not.
  std::string reopen();
  bool enabled() const { return fd_ >= 0; }

  static constexpr size_t kFlushAt = 32 * 1024;

 private:
  void appendTime(bool iso);
  std::string path_;
  Format format_ = Format::Combined;
  int slot_ = 0;
  int fd_ = -1;
  std::string buf_;
  uv_timer_t timer_{};
  bool timerStarted_ = false;
  time_t cachedSecond_ = 0;
  std::string cachedClf_, cachedIso_;  // the timestamp, formatted once per second
};

}  // namespace hostd::worker
