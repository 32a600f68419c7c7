// Big-endian integers in control-frame payloads: the one encoding every ipc codec uses.
#pragma once

#include <cstdint>
#include <string>

namespace hostd::ipc {

/// Appends the low `bytes` bytes of v, most significant first.
inline void appendBE(std::string& out, uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) out.push_back(char((v >> shift) & 0xff));
}

/// Reads `bytes` bytes at p, most significant first.
inline uint64_t readBE(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace hostd::ipc
