// One parsed HTTP request, as handlers see it.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace hostd::http {

struct Header {
  std::string_view name, value;
};

/// A complete request (head and de-chunked body). Views into connection buffers that do
/// not move while the request lives (trailers are counted, never stored): valid during the
/// Handler call that received it.
class Request {
 public:
  std::string_view method() const { return method_; }
  /// Raw request-target, "/a/b?x=1".
  std::string_view target() const { return target_; }
  /// Target before '?'.
  std::string_view path() const { return path_; }
  /// Target after '?' (without it), empty if none.
  std::string_view query() const { return query_; }
  /// First header with this name, case-insensitive.
  bool header(std::string_view name, std::string_view* value) const;
  size_t headerCount() const { return headers_.size(); }
  const Header& headerAt(size_t i) const { return headers_[i]; }
  /// De-chunked body.
  std::string_view body() const { return body_; }
  /// "127.0.0.1:51234" / "[::1]:51234".
  std::string_view remoteAddr() const { return remote_; }
  int httpMajor() const { return major_; }
  int httpMinor() const { return minor_; }
  /// The checked handle a plugin gets for this request (see http/handles.h).
  uint64_t token() const { return token_; }

 private:
  friend class Connection;
  friend struct Exchange;
  std::string_view method_, target_, path_, query_, body_, remote_;
  std::vector<Header> headers_;
  int major_ = 1, minor_ = 1;
  uint64_t token_ = 0;
};

/// ASCII case-insensitive equality (header names).
bool equalsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace hostd::http
