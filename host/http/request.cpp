#include "http/request.h"

namespace hostd::http {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x + 32);
    if (y >= 'A' && y <= 'Z') y = char(y + 32);
    if (x != y) return false;
  }
  return true;
}

bool Request::header(std::string_view name, std::string_view* value) const {
  for (const Header& h : headers_) {
    if (equalsIgnoreCase(h.name, name)) {
      if (value) *value = h.value;
      return true;
    }
  }
  return false;
}

}  // namespace hostd::http
