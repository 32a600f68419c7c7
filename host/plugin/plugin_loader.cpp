#include "plugin/plugin_loader.h"

#include <dlfcn.h>

#include <cstddef>
#include <cstdio>
#include <cstring>

namespace hostd::plugin {
namespace {

std::string abiText(unsigned major, unsigned minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

bool validName(const char* name) {
  if (!name || !*name || std::strlen(name) > 64) return false;
  for (const char* p = name; *p; ++p) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string checkDescriptor(const hostd_plugin* d, const std::string& path) {
  const std::string hostAbi = abiText(HOSTD_ABI_MAJOR, HOSTD_ABI_MINOR);
  if (!d) {
    return path + ": " HOSTD_ENTRY_SYMBOL "() returned no descriptor (NULL); the plugin refused "
           "to load on hostd ABI " + hostAbi + " — check the plugin's entry function";
  }
  if (d->magic != HOSTD_PLUGIN_MAGIC) {
    char seen[32];
    std::snprintf(seen, sizeof seen, "0x%08x", static_cast<unsigned>(d->magic));
    return path + ": bad plugin magic " + seen + " (expected 0x44545348 \"HSTD\"); perhaps this is "
           "not a hostd plugin, or its descriptor was not built from hostd/plugin.h";
  }
  if (d->abi_major != HOSTD_ABI_MAJOR) {
    return path + ": plugin was built for hostd plugin ABI " + abiText(d->abi_major, d->abi_minor) +
           ", this hostd speaks ABI " + hostAbi + " (major versions must match); rebuild the "
           "plugin against this hostd's SDK: $(pkg-config --cflags hostd-sdk)";
  }
  constexpr size_t kMinSize = offsetof(hostd_plugin, on_request) + sizeof(hostd_request_fn);
  if (d->size < kMinSize) {
    return path + ": plugin descriptor is " + std::to_string(d->size) + " bytes, at least " +
           std::to_string(kMinSize) + " expected for ABI " + hostAbi +
           "; the descriptor is truncated or was not built from hostd/plugin.h";
  }
  if (!validName(d->name)) {
    return path + ": plugin name \"" + std::string(d->name ? d->name : "(null)") +
           "\" is not valid (expected 1-64 characters of [A-Za-z0-9_-]); fix the name given to "
           "HOSTD_PLUGIN(...)";
  }
  if (!d->on_request) {
    return path + ": plugin \"" + d->name + "\" has no on_request callback; every plugin must "
           "handle requests";
  }
  return {};
}

LoadedPlugin loadPlugin(const std::string& path) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    throw PluginError("cannot load plugin " + path + ": " + (why ? why : "unknown dlopen error") +
                      "; is it a shared object built for this machine (g++ -shared -fPIC), and "
                      "are all the libraries and symbols it needs available?");
  }
  void* sym = dlsym(handle, HOSTD_ENTRY_SYMBOL);
  if (!sym) {
    dlclose(handle);
    throw PluginError(path + ": does not export " HOSTD_ENTRY_SYMBOL "(); perhaps this is not a "
                      "hostd plugin, or it was built without HOSTD_PLUGIN(...) (C++) / "
                      "HOSTD_DECLARE_ENTRY(...) (C), or with the symbol hidden");
  }
  auto entry = reinterpret_cast<hostd_plugin_entry_fn>(sym);
  const hostd_plugin* desc = entry(HOSTD_ABI_MAJOR, HOSTD_ABI_MINOR);
  std::string refusal = checkDescriptor(desc, path);
  if (!refusal.empty()) {
    dlclose(handle);
    throw PluginError(refusal);
  }
  return LoadedPlugin{handle, desc, path};
}

}  // namespace hostd::plugin
