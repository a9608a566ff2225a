// The last tier of the state cache: one file per snapshot under <state_dir>/snapshots/, and an
// SQLite index (<state_dir>/snapshots.sqlite3) of their token prefixes, sizes, checksums and
// last use, so that a restarted engine finds them again by prefix.
//
// SQLite is linked in the engine-only GPU build too (scripts/fetch_gpu_deps.sh brings
// libsqlite3-dev along): one code path for the disk tier in every build, tested where it runs,
// instead of a second index format that only the GPU build would use.
//
// Crash safety: a file is written under a temporary name and renamed before its row is inserted;
// open() drops rows whose file is gone and files without a row.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/prefix_index.h"
#include "runtime/token.h"

struct sqlite3;

namespace m1 {

class DiskSnapshotTier {
public:
  static Expected<std::unique_ptr<DiskSnapshotTier>> open(const std::string & state_dir);
  ~DiskSnapshotTier();
  DiskSnapshotTier(const DiskSnapshotTier &) = delete;
  DiskSnapshotTier & operator=(const DiskSnapshotTier &) = delete;

  struct Record {
    SnapshotId id = 0;
    std::vector<Token> tokens;
    size_t bytes = 0;
    std::int64_t last_used = 0;  // a logical clock: larger = used more recently
  };
  // Every indexed snapshot, least recently used first.
  Expected<std::vector<Record>> list() const;

  Status write(SnapshotId id, std::span<const Token> tokens, std::span<const std::uint8_t> payload,
               std::int64_t last_used);
  // The payload, checked against the stored size and checksum.
  Expected<std::vector<std::uint8_t>> read(SnapshotId id) const;
  Status erase(SnapshotId id);

  const std::string & directory() const { return directory_; }

private:
  DiskSnapshotTier(sqlite3 * db, std::string directory);
  std::string file_of(SnapshotId id) const;
  Status exec(const std::string & sql) const;
  Status remove_orphans();

  sqlite3 * db_;           // owned; used by the thread that owns the store (see SnapshotStore)
  std::string directory_;  // <state_dir>/snapshots
  std::string index_path_;
};

}  // namespace m1
