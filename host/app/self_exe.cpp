#include "app/self_exe.h"

#include <uv.h>

namespace hostd::app {

std::string selfExecutable() {
  char exe[4096];
  size_t len = sizeof exe;
  return uv_exepath(exe, &len) == 0 ? std::string(exe, len) : std::string();
}

}  // namespace hostd::app
