/* Test-only LD_PRELOAD library: counts the heap allocations (malloc, calloc, realloc and
 * the aligned ones; C++'s operator new goes through malloc) of every process that loads
 * it, into a file another process can read while it runs.
 *
 *   TEST_MALLOC_COUNT_DIR=DIR   each process counts into DIR/<pid>: one uint64_t, mapped
 *                               shared. Unset, or DIR not writable: nothing is counted.
 *
 * (Not HOSTD_…: the master does not pass HOSTD_ variables to workers.) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static uint64_t* counter;

__attribute__((constructor)) static void setup(void) {
  const char* dir = getenv("TEST_MALLOC_COUNT_DIR");
  if (!dir) return;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%d", dir, (int)getpid()) >= (int)sizeof path) return;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (ftruncate(fd, sizeof(uint64_t)) == 0) {
    void* p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) counter = p;
  }
  close(fd);
}

static void count(void) {
  if (counter) __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}

void* calloc(size_t a, size_t b) {
  count();
  return __libc_calloc(a, b);
}

void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}

void* memalign(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}

void* aligned_alloc(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}

int posix_memalign(void** out, size_t align, size_t n) {
  count();
  void* p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
