// hostd-supervise: the supervisor of one child process of a worker, as its own small
// static executable (worker/child_exec.cpp; the same code runs as "hostd --child-exec"
// where this file is missing). A worker runs it for every exec / exec_file / spawn, so it
// must start in about the time of /bin/true: no Poco, no libuv, no dynamic loader.
#include "worker/child_exec.h"

#include <cstring>

int main(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[1], "--child-exec") != 0) return 127;  // only ever run by a worker
  return hostd::worker::runChildExec(argc, argv);
}
