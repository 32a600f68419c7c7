// The master's OS seam: lets an end-to-end test make a named call fail on purpose (EMFILE
// from pipe(), E2BIG or EAGAIN from a spawn, EAGAIN from a write, ...), the way Envoy
// passes an Os interface into its constructors. Inert unless HOSTD_TEST_FAULTS is set
// (workers never see it: the master keeps HOSTD_* variables out of their environment).
#pragma once

namespace hostd::app {

/// 0, or the errno the `call`'s current invocation must fail with. Faults are read once
/// from HOSTD_TEST_FAULTS, a comma-separated list of CALL:ERRNO@N ("pipe:EMFILE@3" = the
/// third pipe() of the master fails with EMFILE; "@N+" = the Nth and every later one).
/// Calls: pipe, socketpair, spawn (a worker's fork+exec), probe (the plugin probe's),
/// write (a control-channel write: the immediate try fails, the frame is queued).
/// Errno names: EMFILE, ENFILE, E2BIG, EAGAIN, ENOMEM.
int injectedFault(const char* call);

}  // namespace hostd::app
