#include "master/plugin_store.h"

#include "master/plugin_probe.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace hostd::master {
namespace fs = std::filesystem;

PluginStore::PluginStore(std::string exe) : exe_(std::move(exe)) {
  std::string tmpl = (fs::temp_directory_path() / ("hostd-" + std::to_string(getpid()) + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a private plugin directory " + tmpl);
  dir_ = tmpl;
}

PluginStore::~PluginStore() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

PluginStore::Prepared PluginStore::copy(const std::string& source, uint64_t version) {
  Prepared p;
  std::string stem = fs::path(source).stem().string();
  std::string copy = dir_ + "/" + stem + "." + std::to_string(version) + ".so";
  std::ifstream in(source, std::ios::binary);
  std::ofstream out(copy, std::ios::binary | std::ios::trunc);
  if (!in || !out || !(out << in.rdbuf()) || !out.flush()) {
    p.message = "cannot copy plugin " + source + " to " + copy + " (missing or unreadable?)";
    discard(copy);
    return p;
  }
  p.ok = true;
  p.path = copy;
  return p;
}

PluginStore::Prepared PluginStore::accept(Prepared copied, const std::string& source, const ProbeResult& r) {
  if (!r.ok) {
    Prepared refused;
    refused.message = r.message;
    for (size_t at; (at = refused.message.find(copied.path)) != std::string::npos;)
      refused.message.replace(at, copied.path.size(), source);
    discard(copied.path);
    return refused;
  }
  copied.name = r.name;
  copied.version = r.version;
  return copied;
}

PluginStore::Prepared PluginStore::prepare(const std::string& source, uint64_t version) {
  Prepared p = copy(source, version);
  if (!p.ok) return p;
  return accept(p, source, probePlugin(exe_, p.path));
}

void PluginStore::discard(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace hostd::master
