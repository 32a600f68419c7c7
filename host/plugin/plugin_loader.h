// Loading and validating a plugin .so: the ABI check (pure) and the dlopen (worker side).
#pragma once

#include <hostd/plugin.h>

#include <stdexcept>
#include <string>

namespace hostd::plugin {

/// A plugin that cannot be used; what() says what was seen and what to do.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Checks a descriptor returned by a plugin's entry function against this host's ABI.
/// Pure (no I/O). Returns "" when the plugin is acceptable, otherwise the refusal text,
/// naming `path`, what was found, what was expected, and what to try.
std::string checkDescriptor(const hostd_plugin* desc, const std::string& path);

/// A plugin loaded into this process. Never unloaded: a worker keeps its plugin for life.
struct LoadedPlugin {
  void* handle = nullptr;
  const hostd_plugin* desc = nullptr;
  std::string path;
};

/// dlopen(path, RTLD_NOW | RTLD_LOCAL) — every symbol resolved now, not mid-request —
/// then resolves HOSTD_ENTRY_SYMBOL, calls it and runs checkDescriptor(). Throws
/// PluginError. Static initialisers of the plugin run here: call it only in a process
/// whose crash is survivable (a worker, or the validation probe).
LoadedPlugin loadPlugin(const std::string& path);

}  // namespace hostd::plugin
