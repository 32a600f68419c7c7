#include "app/fault_seam.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace hostd::app {
namespace {

struct Fault {
  int err;
  unsigned nth;
  bool andLater;
};

int errnoNamed(const std::string& name) {
  static const std::map<std::string, int> names = {
      {"EMFILE", EMFILE}, {"ENFILE", ENFILE}, {"E2BIG", E2BIG}, {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM}};
  auto it = names.find(name);
  return it == names.end() ? 0 : it->second;
}

std::map<std::string, std::vector<Fault>> parse(const char* spec) {
  std::map<std::string, std::vector<Fault>> out;
  std::stringstream ss(spec ? spec : "");
  for (std::string item; std::getline(ss, item, ',');) {
    size_t colon = item.find(':'), at = item.find('@');
    if (colon == std::string::npos || at == std::string::npos || at < colon) continue;
    std::string n = item.substr(at + 1);
    bool later = !n.empty() && n.back() == '+';
    if (later) n.pop_back();
    int err = errnoNamed(item.substr(colon + 1, at - colon - 1));
    unsigned nth = unsigned(std::strtoul(n.c_str(), nullptr, 10));
    if (err && nth) out[item.substr(0, colon)].push_back(Fault{err, nth, later});
  }
  return out;
}

}  // namespace

int injectedFault(const char* call) {
  static const auto faults = parse(std::getenv("HOSTD_TEST_FAULTS"));
  static std::map<std::string, unsigned> calls;
  if (faults.empty()) return 0;
  auto it = faults.find(call);
  if (it == faults.end()) return 0;
  unsigned n = ++calls[call];
  for (const Fault& f : it->second)
    if (n == f.nth || (f.andLater && n > f.nth)) return f.err;
  return 0;
}

}  // namespace hostd::app
