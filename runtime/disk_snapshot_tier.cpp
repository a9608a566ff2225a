#include "runtime/disk_snapshot_tier.h"

#include "runtime/checksum.h"

#include <sqlite3.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace m1 {

namespace {

namespace fs = std::filesystem;

// Finalizes a prepared statement on every path.
struct Statement {
  sqlite3_stmt * stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

Status prepare(sqlite3 * db, const char * sql, Statement & out, const std::string & path) {
  if (sqlite3_prepare_v2(db, sql, -1, &out.stmt, nullptr) != SQLITE_OK)
    return Status::error(path + ": " + sqlite3_errmsg(db));
  return Status();
}

}  // namespace

DiskSnapshotTier::DiskSnapshotTier(sqlite3 * db, std::string directory)
    : db_(db), directory_(std::move(directory)) {}

DiskSnapshotTier::~DiskSnapshotTier() { sqlite3_close(db_); }

Expected<std::unique_ptr<DiskSnapshotTier>> DiskSnapshotTier::open(const std::string & state_dir) {
  std::error_code ec;
  const fs::path dir = fs::path(state_dir) / "snapshots";
  fs::create_directories(dir, ec);
  if (ec) return Status::error(dir.string() + ": cannot create the snapshot folder: " + ec.message());
  const std::string index_path = (fs::path(state_dir) / "snapshots.sqlite3").string();
  sqlite3 * db = nullptr;
  if (sqlite3_open(index_path.c_str(), &db) != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::error(index_path + ": cannot open the snapshot index: " + why);
  }
  std::unique_ptr<DiskSnapshotTier> tier(new DiskSnapshotTier(db, dir.string()));
  tier->index_path_ = index_path;
  sqlite3_busy_timeout(db, 5000);
  M1_RETURN_IF_ERROR(tier->exec(
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY, tokens BLOB NOT NULL,"
      " bytes INTEGER NOT NULL, checksum INTEGER NOT NULL, last_used INTEGER NOT NULL);"));
  M1_RETURN_IF_ERROR(tier->remove_orphans());
  return tier;
}

Status DiskSnapshotTier::exec(const std::string & sql) const {
  char * error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error ? error : "unknown error";
    sqlite3_free(error);
    return Status::error(index_path_ + ": " + why);
  }
  return Status();
}

std::string DiskSnapshotTier::file_of(SnapshotId id) const {
  char name[40];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".snap", id);
  return (fs::path(directory_) / name).string();
}

Status DiskSnapshotTier::remove_orphans() {
  Expected<std::vector<Record>> records = list();
  if (!records) return records.status();
  std::set<std::string> indexed;
  for (const Record & r : *records) {
    std::error_code ec;
    if (fs::file_size(file_of(r.id), ec) != r.bytes || ec) {
      M1_RETURN_IF_ERROR(erase(r.id));
      continue;
    }
    indexed.insert(fs::path(file_of(r.id)).filename().string());
  }
  std::error_code ec;
  for (const fs::directory_entry & e : fs::directory_iterator(directory_, ec))
    if (indexed.count(e.path().filename().string()) == 0) fs::remove(e.path(), ec);
  return Status();
}

Expected<std::vector<DiskSnapshotTier::Record>> DiskSnapshotTier::list() const {
  Statement s;
  M1_RETURN_IF_ERROR(prepare(db_, "SELECT id, tokens, bytes, last_used FROM snapshots ORDER BY last_used",
                             s, index_path_));
  std::vector<Record> out;
  int rc;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    Record r;
    r.id = SnapshotId(sqlite3_column_int64(s.stmt, 0));
    const int n_bytes = sqlite3_column_bytes(s.stmt, 1);
    r.tokens.resize(size_t(n_bytes) / sizeof(Token));
    if (n_bytes > 0) std::memcpy(r.tokens.data(), sqlite3_column_blob(s.stmt, 1), r.tokens.size() * sizeof(Token));
    r.bytes = size_t(sqlite3_column_int64(s.stmt, 2));
    r.last_used = sqlite3_column_int64(s.stmt, 3);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Status::error(index_path_ + ": " + sqlite3_errmsg(db_));
  return out;
}

Status DiskSnapshotTier::write(SnapshotId id, std::span<const Token> tokens,
                               std::span<const std::uint8_t> payload, std::int64_t last_used) {
  const std::string path = file_of(id);
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(payload.data()), std::streamsize(payload.size()));
    out.flush();
    if (!out) return Status::error(temporary + ": cannot write the snapshot (disk full?)");
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) return Status::error(path + ": " + ec.message());
  Statement s;
  M1_RETURN_IF_ERROR(prepare(db_,
      "INSERT OR REPLACE INTO snapshots (id, tokens, bytes, checksum, last_used) VALUES (?, ?, ?, ?, ?)",
      s, index_path_));
  sqlite3_bind_int64(s.stmt, 1, std::int64_t(id));
  sqlite3_bind_blob(s.stmt, 2, tokens.data(), int(tokens.size_bytes()), SQLITE_STATIC);
  sqlite3_bind_int64(s.stmt, 3, std::int64_t(payload.size()));
  sqlite3_bind_int64(s.stmt, 4, std::int64_t(checksum64(payload)));
  sqlite3_bind_int64(s.stmt, 5, last_used);
  if (sqlite3_step(s.stmt) != SQLITE_DONE) {
    fs::remove(path, ec);
    return Status::error(index_path_ + ": " + sqlite3_errmsg(db_));
  }
  return Status();
}

Expected<std::vector<std::uint8_t>> DiskSnapshotTier::read(SnapshotId id) const {
  Statement s;
  M1_RETURN_IF_ERROR(prepare(db_, "SELECT bytes, checksum FROM snapshots WHERE id = ?", s, index_path_));
  sqlite3_bind_int64(s.stmt, 1, std::int64_t(id));
  if (sqlite3_step(s.stmt) != SQLITE_ROW)
    return Status::error(index_path_ + ": no snapshot " + std::to_string(id));
  const size_t bytes = size_t(sqlite3_column_int64(s.stmt, 0));
  const std::uint64_t expected = std::uint64_t(sqlite3_column_int64(s.stmt, 1));
  const std::string path = file_of(id);
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> payload(bytes);
  in.read(reinterpret_cast<char *>(payload.data()), std::streamsize(bytes));
  if (!in || in.peek() != std::char_traits<char>::eof())
    return Status::error(path + ": expected " + std::to_string(bytes) + " bytes (truncated or replaced?)");
  if (checksum64(payload) != expected)
    return Status::error(path + ": checksum mismatch (the file was modified or damaged)");
  return payload;
}

Status DiskSnapshotTier::erase(SnapshotId id) {
  std::error_code ec;
  fs::remove(file_of(id), ec);
  Statement s;
  M1_RETURN_IF_ERROR(prepare(db_, "DELETE FROM snapshots WHERE id = ?", s, index_path_));
  sqlite3_bind_int64(s.stmt, 1, std::int64_t(id));
  if (sqlite3_step(s.stmt) != SQLITE_DONE) return Status::error(index_path_ + ": " + sqlite3_errmsg(db_));
  return Status();
}

}  // namespace m1
