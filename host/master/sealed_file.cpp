#include "master/sealed_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace hostd::master {

std::shared_ptr<SealedFile> SealedFile::create(const char* name, std::string_view bytes, std::string* error) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    *error = std::string("memfd_create(") + name + ") failed: " + std::strerror(errno);
    return nullptr;
  }
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = std::string("write() to memfd ") + name + " failed: " + std::strerror(errno);
      ::close(fd);
      return nullptr;
    }
    done += size_t(n);
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    *error = std::string("sealing memfd ") + name + " failed: " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::shared_ptr<SealedFile>(new SealedFile(fd));
}

SealedFile::~SealedFile() { ::close(fd_); }

}  // namespace hostd::master
