#pragma once

// Named points at which a test can make the process die as if killed with SIGKILL, to prove
// that a crash anywhere loses nothing (tests/integration/test_crashmatrix.cpp). With
// BATCHDESK_CRASH_AT=NAME:COUNT in the environment the process kills itself the COUNT-th
// time (1: the first) it passes the point NAME. Without it a pass is one branch on a value
// read once; the points are compiled into every build, so the tests prove the shipped code.
namespace bd {

void crashPoint(const char *name);

} // namespace bd
