// The hostd command line: options, config check, then the master.
#pragma once

#include <Poco/Util/Application.h>

#include <ostream>
#include <string>

namespace hostd::app {

/// `hostd [-c FILE] [-t] [--version] [--help]`. Exit codes: 0 ok, 1 bad config / plugin /
/// listen failure / no worker could start, 64 bad usage.
class HostdApp : public Poco::Util::Application {
 protected:
  void defineOptions(Poco::Util::OptionSet& options) override;
  void handleOption(const std::string& name, const std::string& value) override;
  int main(const std::vector<std::string>& args) override;
  /// --help: usage, the signals, and each option as "-c FILE, --config=FILE  what it does".
  void printHelp(std::ostream& out);

 private:
  std::string configPath_;
  bool test_ = false;
  bool help_ = false;
  bool version_ = false;
};

/// The default config path when -c is not given.
std::string defaultConfigPath();

}  // namespace hostd::app
