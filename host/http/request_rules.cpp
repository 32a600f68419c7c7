#include "http/request_rules.h"

namespace hostd::http {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// reg-name = *( unreserved / pct-encoded / sub-delims ) (RFC 3986 §3.2.2)
bool regNameChar(char c) {
  if (isAlpha(c) || isDigit(c)) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                       // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')':  // sub-delims
    case '*': case '+': case ',': case ';': case '=':
    case '%':
      return true;
  }
  return false;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool visibleAscii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

// Splits "path?query"; '#' (a fragment) has no place in a request-target.
bool splitPathQuery(std::string_view rest, Route* route) {
  if (rest.find('#') != std::string_view::npos) return false;
  size_t q = rest.find('?');
  route->path = rest.substr(0, q);
  route->query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  if (route->path.empty()) route->path = "/";
  return true;
}

// absolute-form: "http" / "https" "://" authority path-abempty [ "?" query ]
bool absoluteForm(std::string_view t, Route* route) {
  size_t colon = t.find("://");
  if (colon == std::string_view::npos) return false;
  std::string_view scheme = t.substr(0, colon);
  if (!equalsIgnoreCase(scheme, "http") && !equalsIgnoreCase(scheme, "https")) return false;
  std::string_view rest = t.substr(colon + 3);
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  if (!validHost(authority)) return false;  // also refuses userinfo ('@')
  route->authority = authority;
  return splitPathQuery(end == std::string_view::npos ? std::string_view() : rest.substr(end), route);
}

// Transfer-Encoding field values (all of them, in order): chunked must come last
// (RFC 9112 §6.3: else 400), and it is the only coding understood (§6.1: else 501).
struct Codings {
  int chunked = 0;
  bool unknown = false;
  bool lastIsChunked = false;
  bool any = false;
  void add(std::string_view value) {
    while (true) {
      size_t comma = value.find(',');
      std::string_view coding = trimOws(value.substr(0, comma));
      if (!coding.empty()) {  // empty list elements are allowed (RFC 9110 §5.6.1)
        any = true;
        lastIsChunked = equalsIgnoreCase(coding, "chunked");
        chunked += lastIsChunked;
        unknown |= !lastIsChunked;
      }
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  int verdict() const {
    if (!any || !lastIsChunked || chunked > 1) return 400;
    return unknown ? 501 : 0;
  }
};

}  // namespace

bool validHost(std::string_view host) {
  if (host.empty()) return false;
  size_t portAt;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : host.substr(1, close - 1))
      if (!isHex(c) && c != ':' && c != '.' && c != 'v' && c != 'V') return false;
    portAt = close + 1;
    if (portAt < host.size() && host[portAt] != ':') return false;
  } else {
    portAt = host.find(':');
    std::string_view name = host.substr(0, portAt);
    if (name.empty()) return false;
    for (char c : name)
      if (!regNameChar(c)) return false;
  }
  if (portAt >= host.size()) return true;
  std::string_view port = host.substr(portAt + 1);
  if (port.size() > 5) return false;
  for (char c : port)
    if (!isDigit(c)) return false;
  return true;
}

int checkHead(const Head& h, Route* route) {
  if (h.major != 1 || h.minor > 1) return 505;
  if (h.method == "CONNECT") return 501;  // no tunnels here
  if (h.target.empty() || !visibleAscii(h.target)) return 400;

  if (h.target == "*") {
    if (h.method != "OPTIONS") return 400;
    route->path = h.target;
    route->query = {};
  } else if (h.target.front() == '/') {
    if (!splitPathQuery(h.target, route)) return 400;
  } else if (!absoluteForm(h.target, route)) {
    return 400;  // authority-form belongs to CONNECT only
  }

  size_t hosts = 0;
  bool hasTransferEncoding = false;
  Codings codings;
  for (size_t i = 0; i < h.headerCount; ++i) {
    const Header& x = h.headers[i];
    if (x.name.empty()) return 400;
    if (equalsIgnoreCase(x.name, "host")) {
      if (++hosts > 1 || !validHost(trimOws(x.value))) return 400;
      route->hostIndex = i;
    } else if (equalsIgnoreCase(x.name, "transfer-encoding")) {
      if (h.minor == 0) return 400;  // RFC 9112 §6.1: a 1.0 message cannot be chunked
      hasTransferEncoding = true;
      codings.add(x.value);
    }
  }
  if (hasTransferEncoding)
    if (int status = codings.verdict()) return status;
  if (hosts == 0 && h.minor >= 1) return 400;
  return 0;
}

}  // namespace hostd::http
