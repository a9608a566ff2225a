// Test support: an SQLite VFS ("m1_faulty") that delegates to the default one and fails the n-th
// write, sync or truncate with SQLITE_IOERR, to test the session store with failure injection
// (every n, as Beast's tests do).
#pragma once

#include <cstdint>

namespace m1::test {

// Registers the VFS once (not as the default). Returns its name.
const char * register_faulty_vfs();
// The next `n`-th write/sync/truncate through the VFS fails (1 = the first); 0 = none fails.
// Resets the operation counter.
void fail_nth_io(int64_t n);
// Operations counted since the last fail_nth_io.
int64_t io_operations();

}  // namespace m1::test
