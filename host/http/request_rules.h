// The RFC 9110/9112 MUSTs a request head is checked against once llhttp (strict mode)
// parsed it: version, method, request-target form, Host, Transfer-Encoding. Pure logic.
#pragma once

#include "http/request.h"

#include <string_view>

namespace hostd::http {

/// The head as parsed, before it is shown to a handler.
struct Head {
  std::string_view method;  ///< "GET", ...
  int major = 1, minor = 1;
  std::string_view target;  ///< raw request-target
  const Header* headers = nullptr;
  size_t headerCount = 0;
};

/// What the checks made of an acceptable head.
struct Route {
  std::string_view path;   ///< "/a/b" (origin- and absolute-form), "*" (OPTIONS *)
  std::string_view query;  ///< after '?', without it
  /// absolute-form: the target's authority, which replaces any Host header (RFC 9112
  /// §3.2.2); empty otherwise.
  std::string_view authority;
  size_t hostIndex = size_t(-1);  ///< the Host header's index, if there is one
};

/// 0 if the head is acceptable (and *route filled), else the status to answer before
/// closing: 400 (malformed: Host missing, repeated, empty or not a host[:port]; a target
/// that is not origin-, absolute- or asterisk-form, or holds bytes outside visible ASCII;
/// Transfer-Encoding in HTTP/1.0, empty, not ending in chunked, or chunked twice; a header
/// with an empty name), 501 (CONNECT; a transfer coding other than chunked before a final
/// chunked), 505 (a version other than
/// HTTP/1.0 and HTTP/1.1).
int checkHead(const Head& head, Route* route);

/// True if `host` is a valid Host value: uri-host [":" port] (RFC 9110 §7.2), not empty.
bool validHost(std::string_view host);

}  // namespace hostd::http
