#include "app/resident.h"

#include <fstream>
#include <string>
#include <unistd.h>

namespace hostd::app {

uint64_t residentBytes(int pid) {
  std::ifstream statm(pid ? "/proc/" + std::to_string(pid) + "/statm" : std::string("/proc/self/statm"));
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

}  // namespace hostd::app
