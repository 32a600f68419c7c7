// The OS seam of the master's process spawning: lets an end-to-end test make a named call
// fail on purpose (EMFILE from pipe(), E2BIG or EAGAIN from the spawn, ...), the way Envoy
// passes an Os interface into its constructors. Inert unless HOSTD_TEST_FAULTS is set.
#pragma once

namespace hostd::master {

/// 0, or the errno the `call`'s current invocation must fail with. Faults are read once
/// from HOSTD_TEST_FAULTS, a comma-separated list of CALL:ERRNO@N ("pipe:EMFILE@3" = the
/// third pipe() of the master fails with EMFILE; "@N+" = the Nth and every later one).
/// Calls: pipe, socketpair, spawn. Errno names: EMFILE, ENFILE, E2BIG, EAGAIN, ENOMEM.
int injectedFault(const char* call);

}  // namespace hostd::master
