// An anonymous, sealed, read-only file (memfd) holding bytes a worker reads at start: its
// configuration. Unlike the environment it has no size limit (E2BIG), and unlike a file on
// disk nobody else can open, change or leave it behind.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace hostd::master {

class SealedFile {
 public:
  /// A memfd named `name` holding `bytes`, sealed against any change; close-on-exec (a
  /// worker gets it only as an explicitly inherited fd). nullptr and *error on failure.
  static std::shared_ptr<SealedFile> create(const char* name, std::string_view bytes, std::string* error);
  ~SealedFile();
  SealedFile(const SealedFile&) = delete;
  SealedFile& operator=(const SealedFile&) = delete;
  int fd() const { return fd_; }

 private:
  explicit SealedFile(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace hostd::master
