#include "tests/agents/faulty_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace m1::test {

namespace {

std::atomic<int64_t> g_fail_at{0};
std::atomic<int64_t> g_count{0};
sqlite3_vfs * g_real = nullptr;
sqlite3_vfs g_vfs;
sqlite3_io_methods g_methods;

// Our file object: the header SQLite sees, followed by the real VFS's file object.
struct FaultyFile {
  sqlite3_file base;
  sqlite3_file * real() { return reinterpret_cast<sqlite3_file *>(this + 1); }
};

FaultyFile * faulty(sqlite3_file * f) { return reinterpret_cast<FaultyFile *>(f); }

bool should_fail() {
  int64_t n = ++g_count;
  return g_fail_at.load() != 0 && n == g_fail_at.load();
}

int f_close(sqlite3_file * f) { return faulty(f)->real()->pMethods->xClose(faulty(f)->real()); }
int f_read(sqlite3_file * f, void * p, int n, sqlite3_int64 off) {
  return faulty(f)->real()->pMethods->xRead(faulty(f)->real(), p, n, off);
}
int f_write(sqlite3_file * f, const void * p, int n, sqlite3_int64 off) {
  if (should_fail()) return SQLITE_IOERR_WRITE;
  return faulty(f)->real()->pMethods->xWrite(faulty(f)->real(), p, n, off);
}
int f_truncate(sqlite3_file * f, sqlite3_int64 size) {
  if (should_fail()) return SQLITE_IOERR_TRUNCATE;
  return faulty(f)->real()->pMethods->xTruncate(faulty(f)->real(), size);
}
int f_sync(sqlite3_file * f, int flags) {
  if (should_fail()) return SQLITE_IOERR_FSYNC;
  return faulty(f)->real()->pMethods->xSync(faulty(f)->real(), flags);
}
int f_size(sqlite3_file * f, sqlite3_int64 * size) { return faulty(f)->real()->pMethods->xFileSize(faulty(f)->real(), size); }
int f_lock(sqlite3_file * f, int l) { return faulty(f)->real()->pMethods->xLock(faulty(f)->real(), l); }
int f_unlock(sqlite3_file * f, int l) { return faulty(f)->real()->pMethods->xUnlock(faulty(f)->real(), l); }
int f_check_lock(sqlite3_file * f, int * out) {
  return faulty(f)->real()->pMethods->xCheckReservedLock(faulty(f)->real(), out);
}
int f_control(sqlite3_file * f, int op, void * arg) {
  return faulty(f)->real()->pMethods->xFileControl(faulty(f)->real(), op, arg);
}
int f_sector(sqlite3_file * f) { return faulty(f)->real()->pMethods->xSectorSize(faulty(f)->real()); }
int f_device(sqlite3_file * f) { return faulty(f)->real()->pMethods->xDeviceCharacteristics(faulty(f)->real()); }
int f_shm_map(sqlite3_file * f, int page, int size, int extend, void volatile ** p) {
  return faulty(f)->real()->pMethods->xShmMap(faulty(f)->real(), page, size, extend, p);
}
int f_shm_lock(sqlite3_file * f, int offset, int n, int flags) {
  return faulty(f)->real()->pMethods->xShmLock(faulty(f)->real(), offset, n, flags);
}
void f_shm_barrier(sqlite3_file * f) { faulty(f)->real()->pMethods->xShmBarrier(faulty(f)->real()); }
int f_shm_unmap(sqlite3_file * f, int del) { return faulty(f)->real()->pMethods->xShmUnmap(faulty(f)->real(), del); }
int f_fetch(sqlite3_file * f, sqlite3_int64 off, int n, void ** p) {
  return faulty(f)->real()->pMethods->xFetch(faulty(f)->real(), off, n, p);
}
int f_unfetch(sqlite3_file * f, sqlite3_int64 off, void * p) {
  return faulty(f)->real()->pMethods->xUnfetch(faulty(f)->real(), off, p);
}

int v_open(sqlite3_vfs *, sqlite3_filename name, sqlite3_file * f, int flags, int * out_flags) {
  FaultyFile * file = faulty(f);
  int rc = g_real->xOpen(g_real, name, file->real(), flags, out_flags);
  file->base.pMethods = file->real()->pMethods ? &g_methods : nullptr;
  return rc;
}
int v_delete(sqlite3_vfs *, const char * name, int sync) { return g_real->xDelete(g_real, name, sync); }
int v_access(sqlite3_vfs *, const char * name, int flags, int * out) { return g_real->xAccess(g_real, name, flags, out); }
int v_full(sqlite3_vfs *, const char * name, int n, char * out) { return g_real->xFullPathname(g_real, name, n, out); }
int v_random(sqlite3_vfs *, int n, char * out) { return g_real->xRandomness(g_real, n, out); }
int v_sleep(sqlite3_vfs *, int us) { return g_real->xSleep(g_real, us); }
int v_time(sqlite3_vfs *, double * out) { return g_real->xCurrentTime(g_real, out); }
int v_error(sqlite3_vfs *, int n, char * out) { return g_real->xGetLastError(g_real, n, out); }
int v_time64(sqlite3_vfs *, sqlite3_int64 * out) { return g_real->xCurrentTimeInt64(g_real, out); }

}  // namespace

const char * register_faulty_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    std::memset(&g_methods, 0, sizeof g_methods);
    g_methods = {3, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock, f_unlock, f_check_lock,
                 f_control, f_sector, f_device, f_shm_map, f_shm_lock, f_shm_barrier, f_shm_unmap,
                 f_fetch, f_unfetch};
    std::memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = int(sizeof(FaultyFile)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "m1_faulty";
    g_vfs.xOpen = v_open;
    g_vfs.xDelete = v_delete;
    g_vfs.xAccess = v_access;
    g_vfs.xFullPathname = v_full;
    g_vfs.xRandomness = v_random;
    g_vfs.xSleep = v_sleep;
    g_vfs.xCurrentTime = v_time;
    g_vfs.xGetLastError = v_error;
    g_vfs.xCurrentTimeInt64 = v_time64;
    sqlite3_vfs_register(&g_vfs, 0);
  });
  return "m1_faulty";
}

void fail_nth_io(int64_t n) {
  g_count = 0;
  g_fail_at = n;
}

int64_t io_operations() { return g_count.load(); }

}  // namespace m1::test
