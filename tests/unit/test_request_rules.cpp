// The RFC 9110/9112 checks of a request head (http/request_rules.h): pure, no sockets.
#include "http/request_rules.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace hostd::http;

namespace {
struct Case {
  std::string method = "GET";
  int major = 1, minor = 1;
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers = {{"Host", "example.com"}};
};

int check(const Case& c, Route* route = nullptr) {
  std::vector<Header> hs;
  for (const auto& [n, v] : c.headers) hs.push_back(Header{n, v});
  Route r;
  return checkHead(Head{c.method, c.major, c.minor, c.target, hs.data(), hs.size()}, route ? route : &r);
}
}  // namespace

TEST_CASE("an ordinary origin-form request passes and is split into path and query", "[rules]") {
  Case c;
  c.target = "/a/b?x=1&y=2";
  Route r;
  REQUIRE(check(c, &r) == 0);
  CHECK(r.path == "/a/b");
  CHECK(r.query == "x=1&y=2");
  CHECK(r.authority.empty());
  CHECK(r.hostIndex == 0);
}

TEST_CASE("Host: required once in HTTP/1.1, valid when present, optional in 1.0", "[rules]") {
  Case c;
  c.headers = {};
  CHECK(check(c) == 400);
  c.minor = 0;
  CHECK(check(c) == 0);
  c.minor = 1;
  c.headers = {{"Host", "a"}, {"host", "a"}};
  CHECK(check(c) == 400);
  for (const char* bad : {"", "user@example.com", "example.com/path", "exa mple", "[::1", "a:12x", "a:123456", ":80"}) {
    INFO(bad);
    c.headers = {{"Host", bad}};
    CHECK(check(c) == 400);
  }
  for (const char* good : {"example.com", "example.com:8080", "127.0.0.1:1", "[::1]:8080", "[::1]", "a-b.c_d~"}) {
    INFO(good);
    c.headers = {{"Host", good}};
    CHECK(check(c) == 0);
  }
}

TEST_CASE("request-target forms: asterisk only for OPTIONS, no authority-form, visible ASCII only", "[rules]") {
  Case c;
  c.target = "*";
  CHECK(check(c) == 400);
  c.method = "OPTIONS";
  Route r;
  CHECK(check(c, &r) == 0);
  CHECK(r.path == "*");
  c.method = "GET";
  c.target = "example.com:443";
  CHECK(check(c) == 400);
  c.target = "/caf\xc3\xa9";
  CHECK(check(c) == 400);
  c.target = "/a#frag";
  CHECK(check(c) == 400);
  c.target = "/a\x7f";
  CHECK(check(c) == 400);
}

TEST_CASE("absolute-form: the authority is taken from the target, only http and https", "[rules]") {
  Case c;
  c.target = "http://Example.com:81/p?q=1";
  c.headers = {{"Host", "other"}};
  Route r;
  REQUIRE(check(c, &r) == 0);
  CHECK(r.authority == "Example.com:81");
  CHECK(r.path == "/p");
  CHECK(r.query == "q=1");
  c.target = "HTTPS://example.com";
  REQUIRE(check(c, &r) == 0);
  CHECK(r.path == "/");
  c.target = "ftp://example.com/";
  CHECK(check(c) == 400);
  c.target = "http://user@example.com/";
  CHECK(check(c) == 400);
  c.target = "http:///p";
  CHECK(check(c) == 400);
}

TEST_CASE("methods and versions: CONNECT is 501, only HTTP/1.0 and 1.1 are served", "[rules]") {
  Case c;
  c.method = "CONNECT";
  c.target = "example.com:443";
  CHECK(check(c) == 501);
  c.method = "GET";
  c.target = "/";
  c.major = 2;
  c.minor = 0;
  CHECK(check(c) == 505);
  c.major = 1;
  c.minor = 2;
  CHECK(check(c) == 505);
}

TEST_CASE("Transfer-Encoding: chunked once is understood, anything else is 400 or 501", "[rules]") {
  Case c;
  c.headers.push_back({"Transfer-Encoding", "chunked"});
  CHECK(check(c) == 0);
  c.headers.back().second = " , Chunked";  // empty list elements are allowed
  CHECK(check(c) == 0);
  c.headers.back().second = "";
  CHECK(check(c) == 400);
  c.headers.back().second = " ,  ";
  CHECK(check(c) == 400);
  c.headers.back().second = "gzip, chunked";
  CHECK(check(c) == 501);
  c.headers.back().second = "gzip";  // chunked not last: the body length is unknown
  CHECK(check(c) == 400);
  c.headers.back().second = "chunked, gzip";
  CHECK(check(c) == 400);
  c.headers.back().second = "chunked, chunked";
  CHECK(check(c) == 400);
  c.headers.back().second = "chunked";
  c.headers.push_back({"Transfer-Encoding", "chunked"});
  CHECK(check(c) == 400);
  c.headers.pop_back();
  c.minor = 0;
  CHECK(check(c) == 400);
}

TEST_CASE("a header with an empty name is refused", "[rules]") {
  Case c;
  c.headers.push_back({"", "value"});
  CHECK(check(c) == 400);
}
