#include "config/config.h"

#include "config/run_as.h"

#include <cstdio>

#include <Poco/AutoPtr.h>
#include <Poco/Exception.h>
#include <Poco/File.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Path.h>
#include <Poco/URI.h>
#include <Poco/Util/IniFileConfiguration.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace hostd::config {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

/// Where each key came from, so messages can say file:LINE.
using LineMap = std::map<std::string, int>;  // "section.key" (lower) -> line

/// Poco's INI reader only knows ';' comments and keeps inline comments in values: strip
/// full-line '#'/';' comments and inline " ;"/" #" comments first.
// Where `s` stops being UTF-8 text (valid UTF-8, no control byte but TAB), or npos. A
// worker gets its config as JSON, which carries UTF-8 only; and a control byte in a key
// or value is a mistake, not a setting.
size_t notText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return i;
      ++i;
      continue;
    }
    size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    uint32_t cp = c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return i;
      cp = cp << 6 | (d & 0x3f);
    }
    // overlong forms, surrogates, past U+10FFFF
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string preprocess(std::string_view text, const std::string& file, LineMap& lines) {
  std::string out;
  std::string section;
  std::istringstream in{std::string(text)};
  std::string raw;
  int lineNo = 0;
  while (std::getline(in, raw)) {
    ++lineNo;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();  // CRLF files
    if (size_t at = notText(raw); at != std::string::npos) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(raw[at]));
      throw ConfigError(file + ":" + std::to_string(lineNo) + ": byte " + byte + " at column " +
                        std::to_string(at + 1) + " is not UTF-8 text (save the file as UTF-8, without control characters)");
    }
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') {
      out += '\n';
      continue;
    }
    for (size_t i = 1; i < line.size(); ++i) {
      if ((line[i] == ';' || line[i] == '#') && (line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line = trim(line.substr(0, i));
        break;
      }
    }
    if (line[0] == '[') {
      if (line.back() != ']')
        throw ConfigError(file + ":" + std::to_string(lineNo) + ": section header \"" + line +
                          "\" is missing its closing ']'");
      section = lower(trim(line.substr(1, line.size() - 2)));
    } else {
      size_t eq = line.find('=');
      if (eq == std::string::npos)
        throw ConfigError(file + ":" + std::to_string(lineNo) + ": expected \"key = value\", got \"" + line + "\"");
      std::string key = lower(trim(line.substr(0, eq)));
      if (section.empty())
        throw ConfigError(file + ":" + std::to_string(lineNo) + ": key \"" + key +
                          "\" is outside any section; put it under [server], [plugins], ...");
      if (key.empty()) throw ConfigError(file + ":" + std::to_string(lineNo) + ": empty key in [" + section + "]");
      lines[section + "." + key] = lineNo;
    }
    out += line;
    out += '\n';
  }
  return out;
}

const std::map<std::string, std::vector<std::string>>& knownKeys() {
  static const std::map<std::string, std::vector<std::string>> keys = {
      {"server", {"listen", "workers", "scheduling", "graceful_timeout", "thread_pool", "user", "group"}},
      {"plugins", {"dir", "handler", "watch", "cache_dir", "load_timeout"}},
      {"cluster", {"restart_limit", "restart_window", "heartbeat_timeout", "start_timeout", "quarantine_after",
                   "quarantine_seconds", "max_requests", "max_requests_jitter",
                   "max_memory_mb", "on_exception"}},
      {"limits", {"max_header_bytes", "max_body_bytes", "header_timeout", "keepalive_timeout", "body_timeout",
                  "send_timeout", "max_output_buffer"}},
      {"log", {"level", "access", "access_format", "file"}},
      {"children", {"max_per_worker", "max_queued", "queue_timeout_ms"}},
      {"control", {"socket"}},
      {"metrics", {"listen"}},
      {"state", {"backend", "url", "prefix", "timeout_ms", "wait_for_redis"}},
  };
  return keys;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

class Reader {
 public:
  Reader(Poco::Util::AbstractConfiguration& ini, const std::string& file, const LineMap& lines)
      : ini_(ini), file_(file), lines_(lines) {}

  bool has(const std::string& key) const { return ini_.hasProperty(key); }
  std::string raw(const std::string& key) const { return trim(ini_.getRawString(key, "")); }

  [[noreturn]] void fail(const std::string& key, const std::string& value, const std::string& expected) const {
    size_t dot = key.rfind('.');
    auto it = lines_.find(key);
    std::string where = it == lines_.end() ? file_ : file_ + ":" + std::to_string(it->second);
    throw ConfigError(where + ": [" + key.substr(0, dot) + "] " + key.substr(dot + 1) + " = \"" + value +
                      "\": expected " + expected);
  }

  uint64_t number(const std::string& key, uint64_t def, uint64_t min, uint64_t max,
                  std::string expected = {}) const {
    if (!has(key)) return def;
    std::string v = raw(key);
    if (expected.empty()) expected = "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
    if (v.empty() || v.size() > 19 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
      fail(key, v, expected);
    uint64_t n = std::stoull(v);
    if (n < min || n > max) fail(key, v, expected);
    return n;
  }

  bool boolean(const std::string& key, bool def) const {
    if (!has(key)) return def;
    std::string v = lower(raw(key));
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0") return false;
    fail(key, raw(key), "true or false (also yes/no, on/off, 1/0)");
  }

  std::string text(const std::string& key, const std::string& def) const { return has(key) ? raw(key) : def; }

 private:
  Poco::Util::AbstractConfiguration& ini_;
  const std::string& file_;
  const LineMap& lines_;
};

ListenAddress parseListen(const Reader& r, const std::string& v, const char* key = "server.listen") {
  const std::string expected = "host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080 or [::1]:8080";
  ListenAddress a;
  std::string port;
  if (!v.empty() && v[0] == '[') {
    size_t close = v.find(']');
    if (close == std::string::npos || close + 1 >= v.size() || v[close + 1] != ':') r.fail(key, v, expected);
    a.host = v.substr(1, close - 1);
    a.ipv6 = true;
    port = v.substr(close + 2);
    if (a.host.find(':') == std::string::npos) r.fail(key, v, expected);
  } else {
    size_t colon = v.rfind(':');
    if (colon == std::string::npos || v.find(':') != colon) r.fail(key, v, expected);
    a.host = v.substr(0, colon);
    port = v.substr(colon + 1);
  }
  if (a.host.empty() || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) || std::stoul(port) > 65535)
    r.fail(key, v, expected);
  a.port = uint16_t(std::stoul(port));
  return a;
}

/// The url with everything between "//" and the last '@' (the user info) as "***".
std::string redactUrl(const std::string& url) {
  size_t start = url.find("//"), at = url.rfind('@');
  if (start == std::string::npos || at == std::string::npos || at < start) return url;
  return url.substr(0, start + 2) + "***" + url.substr(at);
}

void parseRedisUrl(const Reader& r, StateConfig& s) {
  const std::string expected =
      "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] with a port from 1 to 65535, e.g. redis://127.0.0.1:6379";
  const std::string shown = redactUrl(s.url);  // errors never show a password
  Poco::URI uri;
  try {
    uri = Poco::URI(s.url);
    std::string raw = uri.getUserInfo();
    if (!raw.empty()) {
      size_t colon = raw.find(':');
      if (colon == std::string::npos)
        r.fail("state.url", shown, expected + " (user info must be USER:PASSWORD or :PASSWORD)");
      Poco::URI::decode(raw.substr(0, colon), s.redis_user);  // %40 for '@', %3A for ':'
      Poco::URI::decode(raw.substr(colon + 1), s.redis_password);
      if (notText(s.redis_user) != std::string::npos || notText(s.redis_password) != std::string::npos)
        r.fail("state.url", shown, expected + " (user and password must decode to UTF-8 text)");
    }
  } catch (const Poco::Exception&) {
    r.fail("state.url", shown, expected + " (percent-encode '%' as %25 in a password)");
  }
  std::string path = uri.getPath();
  if (uri.getScheme() != "redis" || uri.getHost().empty() || !uri.getRawQuery().empty() ||
      !uri.getFragment().empty())
    r.fail("state.url", shown, expected);
  // Poco has no default port for this scheme: getPort() 0 is "none written" or ":0".
  std::string authority = s.url.substr(8, s.url.find('/', 8) - 8);  // after "redis://"
  std::string hostPort = authority.substr(authority.rfind('@') + 1);
  if (uri.getPort() == 0 && hostPort.back() != ']' && hostPort.find(':') != std::string::npos)
    r.fail("state.url", shown, expected);
  s.redis_host = uri.getHost();
  s.redis_port = uri.getPort() ? uri.getPort() : 6379;
  if (!path.empty() && path != "/") {
    std::string db = path.substr(1);
    if (db.size() > 5 || !std::all_of(db.begin(), db.end(), [](char c) { return c >= '0' && c <= '9'; }))
      r.fail("state.url", shown, expected);
    s.redis_db = unsigned(std::stoul(db));
  }
}

std::string absolutePath(const std::string& path, const std::string& baseFile) {
  Poco::Path p(path);
  if (p.isAbsolute()) return p.toString();
  Poco::Path base = baseFile.empty() ? Poco::Path::current() : Poco::Path(baseFile).parent();
  return base.resolve(p).toString();
}

}  // namespace

std::string ListenAddress::toString() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string StateConfig::redactedUrl() const { return redactUrl(url); }

std::string Config::pluginPath() const { return plugins_dir + "/" + handler + ".so"; }

const std::map<std::string, std::string>* Config::pluginSection(const std::string& name) const {
  auto it = plugin_sections.find(lower(name));
  return it == plugin_sections.end() ? nullptr : &it->second;
}

Config parseConfig(std::string_view text, const std::string& file, unsigned cpuCount) {
  const std::string name = file.empty() ? std::string("(config)") : file;
  LineMap lines;
  std::istringstream in(preprocess(text, name, lines));
  Poco::AutoPtr<Poco::Util::IniFileConfiguration> ini;
  try {
    ini = new Poco::Util::IniFileConfiguration(in);
  } catch (const Poco::Exception& e) {
    throw ConfigError(name + ": " + e.displayText());
  }
  Reader r(*ini, name, lines);
  Config c;
  c.file = file;

  // Unknown sections and keys are errors (a typo must not silently become a default).
  for (const auto& [key, line] : lines) {
    size_t dot = key.rfind('.');
    std::string section = key.substr(0, dot), k = key.substr(dot + 1);
    if (section.rfind("plugin.", 0) == 0 && section.size() > 7) {
      c.plugin_sections[section.substr(7)][k] = r.raw(key);
      continue;
    }
    auto known = knownKeys().find(section);
    if (known == knownKeys().end())
      throw ConfigError(name + ":" + std::to_string(line) + ": unknown section [" + section +
                        "] (known: server, plugins, cluster, limits, log, control, metrics, state, plugin.<name>)");
    if (std::find(known->second.begin(), known->second.end(), k) == known->second.end())
      throw ConfigError(name + ":" + std::to_string(line) + ": unknown key \"" + k + "\" in [" + section +
                        "] (known: " + joined(known->second) + ")");
  }

  if (r.has("server.listen")) c.listen = parseListen(r, r.raw("server.listen"));
  std::string workers = lower(r.text("server.workers", "auto"));
  c.workers = workers == "auto" ? std::max(1u, cpuCount)
                                : unsigned(r.number("server.workers", 1, 1, 1024, "\"auto\" or a whole number from 1 to 1024"));
  std::string sched = lower(r.text("server.scheduling", "shared"));
  if (sched == "shared") c.scheduling = Scheduling::Shared;
  else if (sched == "round_robin") c.scheduling = Scheduling::RoundRobin;
  else if (sched == "reuseport") c.scheduling = Scheduling::ReusePort;
  else r.fail("server.scheduling", r.raw("server.scheduling"), "shared, round_robin or reuseport");
  c.graceful_timeout = unsigned(r.number("server.graceful_timeout", 5, 1, 3600));
  c.thread_pool = unsigned(r.number("server.thread_pool", 4, 1, 1024));  // libuv's own bounds
  c.user = r.text("server.user", "");
  c.group = r.text("server.group", "");
  for (const char* key : {"server.user", "server.group"}) {
    const std::string v = r.raw(key);
    if (r.has(key) && (v.empty() || v.size() > 64 || v.find_first_of(" \t/:") != std::string::npos))
      r.fail(key, v, "a user or group name (or a number)");
  }

  c.plugins_dir = absolutePath(r.text("plugins.dir", "plugins"), file);
  if (r.has("plugins.dir") && r.raw("plugins.dir").empty()) r.fail("plugins.dir", "", "a directory path");
  c.handler = r.text("plugins.handler", "hello");
  if (c.handler.empty() || c.handler.size() > 64 ||
      !std::all_of(c.handler.begin(), c.handler.end(),
                   [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-'; }))
    r.fail("plugins.handler", c.handler, "a plugin name of 1-64 characters [A-Za-z0-9_-] (the file <dir>/<name>.so)");
  c.watch = r.boolean("plugins.watch", false);
  if (r.has("plugins.cache_dir")) {
    if (r.raw("plugins.cache_dir").empty()) r.fail("plugins.cache_dir", "", "a directory path");
    c.cache_dir = absolutePath(r.raw("plugins.cache_dir"), file);
  }
  c.load_timeout = unsigned(r.number("plugins.load_timeout", 10, 1, 3600));

  c.restart_limit = unsigned(r.number("cluster.restart_limit", 10, 0, 100000));
  c.restart_window = unsigned(r.number("cluster.restart_window", 60, 1, 86400));
  c.heartbeat_timeout = unsigned(r.number("cluster.heartbeat_timeout", 10, 1, 3600));
  c.start_timeout = unsigned(r.number("cluster.start_timeout", 60, 1, 3600));
  c.quarantine_after = unsigned(r.number("cluster.quarantine_after", 3, 0, 1000));
  c.quarantine_seconds = unsigned(r.number("cluster.quarantine_seconds", 60, 1, 86400));
  c.max_requests = r.number("cluster.max_requests", 0, 0, UINT64_C(1) << 62);
  c.max_requests_jitter = r.number("cluster.max_requests_jitter", 0, 0, UINT64_C(1) << 62);
  c.max_memory_mb = r.number("cluster.max_memory_mb", 0, 0, UINT64_C(1) << 30);
  std::string onException = lower(r.text("cluster.on_exception", "respond"));
  if (onException == "respond") c.on_exception = OnException::Respond;
  else if (onException == "replace") c.on_exception = OnException::Replace;
  else r.fail("cluster.on_exception", r.raw("cluster.on_exception"), "respond or replace");

  c.max_header_bytes = size_t(r.number("limits.max_header_bytes", 8192, 256, 1048576));
  c.max_body_bytes = size_t(r.number("limits.max_body_bytes", 1048576, 0, UINT64_C(1) << 30));
  c.header_timeout = unsigned(r.number("limits.header_timeout", 10, 1, 3600));
  c.keepalive_timeout = unsigned(r.number("limits.keepalive_timeout", 5, 1, 3600));
  c.body_timeout = unsigned(r.number("limits.body_timeout", 60, 1, 3600));
  c.send_timeout = unsigned(r.number("limits.send_timeout", 30, 1, 3600));
  c.max_output_buffer = size_t(r.number("limits.max_output_buffer", 1048576, 4096, UINT64_C(1) << 30));
  c.children_max = unsigned(r.number("children.max_per_worker", 32, 1, 4096));
  c.children_max_queued = unsigned(r.number("children.max_queued", 1024, 0, 65536));
  c.children_queue_timeout_ms = unsigned(r.number("children.queue_timeout_ms", 10000, 1, 600000));

  c.log_level = lower(r.text("log.level", "information"));
  static const std::set<std::string> levels = {"fatal", "critical", "error", "warning", "notice", "information",
                                               "debug", "trace"};
  if (!levels.count(c.log_level))
    r.fail("log.level", r.raw("log.level"), "fatal, critical, error, warning, notice, information, debug or trace");

  for (const char* key : {"log.access", "log.file"}) {
    if (!r.has(key)) continue;
    if (r.raw(key).empty()) r.fail(key, "", "a file path (leave the key out for none)");
    (std::string(key) == "log.access" ? c.access_log : c.log_file) = absolutePath(r.raw(key), file);
  }
  const std::string format = lower(r.text("log.access_format", "combined"));
  if (format == "combined") c.access_format = AccessFormat::Combined;
  else if (format == "json") c.access_format = AccessFormat::Json;
  else r.fail("log.access_format", r.raw("log.access_format"), "combined or json");

  if (r.has("metrics.listen")) {
    c.metrics_listen = r.raw("metrics.listen");
    c.metrics = parseListen(r, c.metrics_listen, "metrics.listen");
  }

  if (r.has("control.socket")) {
    const std::string v = r.raw("control.socket");
    if (v.empty()) r.fail("control.socket", v, "a socket path, or off");
    c.control_socket = lower(v) == "off" ? "off" : absolutePath(v, file);
    if (c.control_socket.size() > 100) r.fail("control.socket", v, "a path of at most 100 characters (a Unix socket)");
  }

  std::string backend = lower(r.text("state.backend", "embedded"));
  if (backend == "embedded") c.state.backend = StateConfig::Backend::Embedded;
  else if (backend == "redis") c.state.backend = StateConfig::Backend::Redis;
  else r.fail("state.backend", r.raw("state.backend"), "embedded or redis");
  if (r.has("state.url")) {
    c.state.url = r.raw("state.url");
    parseRedisUrl(r, c.state);
  }
  c.state.prefix = r.text("state.prefix", "hostd:");
  if (c.state.prefix.size() > 256 || c.state.prefix.find_first_of(" \t\r\n") != std::string::npos)
    r.fail("state.prefix", c.state.prefix, "at most 256 characters without spaces");
  c.state.timeout_ms = unsigned(r.number("state.timeout_ms", 2000, 10, 60000));
  c.state.wait_for_redis_s = unsigned(r.number("state.wait_for_redis", 0, 0, 3600));
  return c;
}

Config loadConfig(const std::string& path) {
  std::string abs = absolutePath(path, "");
  std::ifstream f(abs);
  if (!f) throw ConfigError(abs + ": cannot read the configuration file (missing or not readable)");
  std::ostringstream text;
  text << f.rdbuf();
  Config c = parseConfig(text.str(), abs, std::max(1u, std::thread::hardware_concurrency()));
  Poco::File so(c.pluginPath());
  bool ok = false;
  try {
    ok = so.exists() && so.isFile() && so.canRead();
  } catch (const Poco::Exception&) {
  }
  if (!ok)
    throw ConfigError(abs + ": [plugins] handler = \"" + c.handler + "\": expected a readable plugin file " +
                      c.pluginPath() + " (from [plugins] dir = " + c.plugins_dir + "); build it or fix the path");
  c.run_as = resolveRunAs(c.user, c.group, abs);
  return c;
}

std::string toJson(const Config& c) {
  Poco::JSON::Object o;
  o.set("file", c.file);
  o.set("listen_host", c.listen.host);
  o.set("listen_port", int(c.listen.port));
  o.set("listen_ipv6", c.listen.ipv6);
  o.set("workers", c.workers);
  o.set("scheduling", int(c.scheduling));
  o.set("graceful_timeout", c.graceful_timeout);
  o.set("thread_pool", c.thread_pool);
  o.set("user", c.user);
  o.set("group", c.group);
  o.set("run_uid", c.run_as.uid);
  o.set("run_gid", c.run_as.gid);
  std::string groups;
  for (unsigned g : c.run_as.groups) groups += (groups.empty() ? "" : ",") + std::to_string(g);
  o.set("run_groups", groups);
  o.set("run_user", c.run_as.user);
  o.set("run_group", c.run_as.group);
  o.set("plugins_dir", c.plugins_dir);
  o.set("handler", c.handler);
  o.set("watch", c.watch);
  o.set("cache_dir", c.cache_dir);
  o.set("load_timeout", c.load_timeout);
  o.set("restart_limit", c.restart_limit);
  o.set("restart_window", c.restart_window);
  o.set("heartbeat_timeout", c.heartbeat_timeout);
  o.set("start_timeout", c.start_timeout);
  o.set("quarantine_after", c.quarantine_after);
  o.set("quarantine_seconds", c.quarantine_seconds);
  o.set("max_requests", std::to_string(c.max_requests));
  o.set("max_requests_jitter", std::to_string(c.max_requests_jitter));
  o.set("max_memory_mb", std::to_string(c.max_memory_mb));
  o.set("max_header_bytes", std::to_string(c.max_header_bytes));
  o.set("max_body_bytes", std::to_string(c.max_body_bytes));
  o.set("header_timeout", c.header_timeout);
  o.set("keepalive_timeout", c.keepalive_timeout);
  o.set("body_timeout", c.body_timeout);
  o.set("send_timeout", c.send_timeout);
  o.set("max_output_buffer", std::to_string(c.max_output_buffer));
  o.set("children_max", c.children_max);
  o.set("children_max_queued", c.children_max_queued);
  o.set("children_queue_timeout_ms", c.children_queue_timeout_ms);
  o.set("on_exception", int(c.on_exception));
  o.set("log_level", c.log_level);
  o.set("control_socket", c.control_socket);
  o.set("metrics_listen", c.metrics_listen);
  o.set("access_log", c.access_log);
  o.set("access_format", int(c.access_format));
  o.set("log_file", c.log_file);
  o.set("state_backend", int(c.state.backend));
  o.set("state_url", c.state.url);
  o.set("state_redis_host", c.state.redis_host);
  o.set("state_redis_port", int(c.state.redis_port));
  o.set("state_redis_user", c.state.redis_user);
  o.set("state_redis_password", c.state.redis_password);
  o.set("state_redis_db", c.state.redis_db);
  o.set("state_prefix", c.state.prefix);
  o.set("state_timeout_ms", c.state.timeout_ms);
  Poco::JSON::Object sections;
  for (const auto& [name, kv] : c.plugin_sections) {
    Poco::JSON::Object s;
    for (const auto& [k, v] : kv) s.set(k, v);
    sections.set(name, s);
  }
  o.set("plugin_sections", sections);
  std::ostringstream out;
  o.stringify(out);
  return out.str();
}

Config fromJson(const std::string& json) {
  try {
    Poco::JSON::Parser parser;
    auto o = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
    Config c;
    c.file = o->getValue<std::string>("file");
    c.listen.host = o->getValue<std::string>("listen_host");
    c.listen.port = uint16_t(o->getValue<int>("listen_port"));
    c.listen.ipv6 = o->getValue<bool>("listen_ipv6");
    c.workers = o->getValue<unsigned>("workers");
    c.scheduling = Scheduling(o->getValue<int>("scheduling"));
    c.graceful_timeout = o->getValue<unsigned>("graceful_timeout");
    c.thread_pool = o->getValue<unsigned>("thread_pool");
    c.user = o->getValue<std::string>("user");
    c.group = o->getValue<std::string>("group");
    c.run_as.uid = o->getValue<int>("run_uid");
    c.run_as.gid = o->getValue<int>("run_gid");
    std::stringstream groups(o->getValue<std::string>("run_groups"));
    for (std::string g; std::getline(groups, g, ',');) c.run_as.groups.push_back(unsigned(std::stoul(g)));
    c.run_as.user = o->getValue<std::string>("run_user");
    c.run_as.group = o->getValue<std::string>("run_group");
    c.plugins_dir = o->getValue<std::string>("plugins_dir");
    c.handler = o->getValue<std::string>("handler");
    c.watch = o->getValue<bool>("watch");
    c.cache_dir = o->getValue<std::string>("cache_dir");
    c.load_timeout = o->getValue<unsigned>("load_timeout");
    c.restart_limit = o->getValue<unsigned>("restart_limit");
    c.restart_window = o->getValue<unsigned>("restart_window");
    c.heartbeat_timeout = o->getValue<unsigned>("heartbeat_timeout");
    c.start_timeout = o->getValue<unsigned>("start_timeout");
    c.quarantine_after = o->getValue<unsigned>("quarantine_after");
    c.quarantine_seconds = o->getValue<unsigned>("quarantine_seconds");
    c.max_requests = std::stoull(o->getValue<std::string>("max_requests"));
    c.max_requests_jitter = std::stoull(o->getValue<std::string>("max_requests_jitter"));
    c.max_memory_mb = std::stoull(o->getValue<std::string>("max_memory_mb"));
    c.max_header_bytes = std::stoull(o->getValue<std::string>("max_header_bytes"));
    c.max_body_bytes = std::stoull(o->getValue<std::string>("max_body_bytes"));
    c.header_timeout = o->getValue<unsigned>("header_timeout");
    c.keepalive_timeout = o->getValue<unsigned>("keepalive_timeout");
    c.body_timeout = o->getValue<unsigned>("body_timeout");
    c.send_timeout = o->getValue<unsigned>("send_timeout");
    c.max_output_buffer = std::stoull(o->getValue<std::string>("max_output_buffer"));
    c.children_max = o->getValue<unsigned>("children_max");
    c.children_max_queued = o->getValue<unsigned>("children_max_queued");
    c.children_queue_timeout_ms = o->getValue<unsigned>("children_queue_timeout_ms");
    c.on_exception = OnException(o->getValue<int>("on_exception"));
    c.log_level = o->getValue<std::string>("log_level");
    c.control_socket = o->getValue<std::string>("control_socket");
    c.metrics_listen = o->getValue<std::string>("metrics_listen");
    c.access_log = o->getValue<std::string>("access_log");
    c.access_format = AccessFormat(o->getValue<int>("access_format"));
    c.log_file = o->getValue<std::string>("log_file");
    c.state.backend = StateConfig::Backend(o->getValue<int>("state_backend"));
    c.state.url = o->getValue<std::string>("state_url");
    c.state.redis_host = o->getValue<std::string>("state_redis_host");
    c.state.redis_port = uint16_t(o->getValue<int>("state_redis_port"));
    c.state.redis_user = o->getValue<std::string>("state_redis_user");
    c.state.redis_password = o->getValue<std::string>("state_redis_password");
    c.state.redis_db = o->getValue<unsigned>("state_redis_db");
    c.state.prefix = o->getValue<std::string>("state_prefix");
    c.state.timeout_ms = o->getValue<unsigned>("state_timeout_ms");
    auto sections = o->getObject("plugin_sections");
    for (const std::string& name : sections->getNames()) {
      auto s = sections->getObject(name);
      for (const std::string& k : s->getNames()) c.plugin_sections[name][k] = s->getValue<std::string>(k);
    }
    return c;
  } catch (const std::exception& e) {
    throw ConfigError(std::string("malformed worker configuration: ") + e.what());
  }
}

}  // namespace hostd::config
