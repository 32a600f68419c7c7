#include "app/logging.h"

#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>
#include <Poco/PatternFormatter.h>

#include <algorithm>
#include <unistd.h>

namespace hostd::app {
namespace {

class StderrLineChannel : public Poco::Channel {
 public:
  void log(const Poco::Message& msg) override {
    std::string line = msg.getText();
    line += '\n';
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n <= 0) return;  // nowhere to log to; never let logging take the process down
      p += n;
      left -= size_t(n);
    }
  }
};

}  // namespace

void setupLogging(const std::string& level) {
  Poco::AutoPtr<Poco::PatternFormatter> fmt(new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i %q [%P %s] %t"));
  Poco::AutoPtr<Poco::Channel> out(new StderrLineChannel);
  Poco::AutoPtr<Poco::FormattingChannel> chan(new Poco::FormattingChannel(fmt, out));
  Poco::Logger::root().setChannel(chan);
  Poco::Logger::root().setLevel(level);
  // Loggers created before this call keep their old settings: update them all.
  Poco::Logger::setChannel("", chan);
  Poco::Logger::setLevel("", Poco::Logger::parseLevel(level));
}

}  // namespace hostd::app

namespace hostd::app {

std::string logSafe(std::string_view text, size_t cap) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(text.size(), cap) + 16);
  size_t n = std::min(text.size(), cap);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\\': out += "\\\\"; continue;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += char(c);
    }
  }
  if (text.size() > cap) out += "...(" + std::to_string(text.size() - cap) + " more bytes)";
  return out;
}

}  // namespace hostd::app
