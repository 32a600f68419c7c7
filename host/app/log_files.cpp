#include "app/log_files.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace hostd::app {

int prepareLogFile(const std::string& path, const config::RunAs& as, std::string* error) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return -1;
  }
  if (as.switches() && geteuid() == 0 && fchown(fd, uid_t(as.uid), gid_t(as.gid)) != 0) {
    *error = "cannot hand " + path + " to " + as.user + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

std::string redirectStderr(const std::string& path, const config::RunAs& as) {
  std::string why;
  int fd = prepareLogFile(path, as, &why);
  if (fd < 0) return why;
  if (dup2(fd, STDERR_FILENO) < 0) why = "cannot make " + path + " the server log: " + std::strerror(errno);
  close(fd);
  return why;
}

}  // namespace hostd::app
