// The control channel on an event loop: two pipe ends, frames in, frames out.
#pragma once

#include "ipc/frame.h"

#include <uv.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace hostd::ipc {

/// One side of a master<->worker control channel: reads frames from `readFd`, writes
/// frames to `writeFd`, both owned by the channel once open() succeeded (libuv closes
/// them). Loop thread only. Heap-allocate it and end it with destroy(): libuv needs the
/// handles alive until their close callbacks ran.
class Channel {
 public:
  using FrameFn = std::function<void(Frame&)>;
  /// Called once when the channel stops: peer closed (EOF), I/O error or protocol error.
  using CloseFn = std::function<void(const std::string& reason)>;

  explicit Channel(uv_loop_t* loop);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Adopts the fds (non-blocking is set here). Returns 0 or a negative uv error.
  int open(int readFd, int writeFd);
  /// Starts reading. onFrame runs for every complete frame, in order.
  void start(FrameFn onFrame, CloseFn onClose);
  /// Queues one frame (never blocks). False if the channel is closed or the payload too big.
  bool send(MsgType type, std::string_view payload = {});
  bool isOpen() const { return open_ && !failed_; }
  /// The peer wrote bytes the loop has not read yet (FIONREAD): frames on their way in.
  bool unread() const;
  /// Bytes queued for the peer and not yet written (it is not reading, or slowly).
  size_t queuedBytes() const { return open_ ? uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&out_)) : 0; }

  /// Closes both ends and frees the channel once libuv is done with it. `c` may be null.
  static void destroy(Channel* c);

 private:
  ~Channel() = default;
  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void onWritten(uv_write_t* req, int status);
  static void onClosed(uv_handle_t* h);
  void fail(const std::string& reason);

  uv_pipe_t in_{};
  uv_pipe_t out_{};
  bool open_ = false;
  bool failed_ = false;
  int pendingCloses_ = 0;
  FrameDecoder decoder_;
  std::vector<Frame> frames_;
  std::string readBuf_;
  std::string encoded_;
  FrameFn onFrame_;
  CloseFn onClose_;
};

}  // namespace hostd::ipc
