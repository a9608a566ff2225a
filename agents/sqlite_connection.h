// A thin RAII layer over the SQLite C API for the session store: one connection, prepared
// statements with typed binds, and errors as Status lines that name the statement and SQLite's
// message. Not thread-safe by itself: the owner serializes access (SessionStore holds a mutex).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace m1::agents {

class SqliteStatement {
public:
  SqliteStatement(sqlite3 * db, sqlite3_stmt * stmt) : db_(db), stmt_(stmt) {}
  SqliteStatement(SqliteStatement && other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  SqliteStatement(const SqliteStatement &) = delete;
  SqliteStatement & operator=(const SqliteStatement &) = delete;
  ~SqliteStatement() { sqlite3_finalize(stmt_); }

  // Binds are 1-based, as in SQLite. Text is copied (SQLITE_TRANSIENT).
  SqliteStatement & bind(int index, std::string_view text);
  SqliteStatement & bind(int index, int64_t value);
  SqliteStatement & bind(int index, double value);
  SqliteStatement & bind_null(int index);

  // Advances one row: true when a row is available, false when done; an error Status otherwise.
  Expected<bool> step();
  // Runs to completion, ignoring rows.
  Status run();

  int64_t column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double column_double(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string column_text(int column) const;
  bool column_is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

private:
  sqlite3 * db_;
  sqlite3_stmt * stmt_;
};

class SqliteConnection {
public:
  // Opens (creating if missing) the database file. `vfs` selects a registered SQLite VFS by name
  // (empty = the default); tests use it to inject I/O failures.
  static Expected<SqliteConnection> open(const std::string & path, const std::string & vfs = "");

  SqliteConnection(SqliteConnection && other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  SqliteConnection(const SqliteConnection &) = delete;
  SqliteConnection & operator=(const SqliteConnection &) = delete;
  ~SqliteConnection();

  Expected<SqliteStatement> prepare(std::string_view sql);
  // Runs one or more statements that return no rows (schema, pragmas, BEGIN/COMMIT).
  Status execute(std::string_view sql);
  // The first column of the first row, as text (e.g. a PRAGMA's answer).
  Expected<std::string> query_text(std::string_view sql);

  sqlite3 * handle() const { return db_; }

private:
  explicit SqliteConnection(sqlite3 * db) : db_(db) {}
  sqlite3 * db_;
};

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when it fails. IMMEDIATE takes the
// write lock up front, so two writers never deadlock on a lock upgrade (busy_timeout then waits).
template <typename Body> Status in_transaction(SqliteConnection & db, Body && body) {
  M1_RETURN_IF_ERROR(db.execute("BEGIN IMMEDIATE"));
  Status status = body();
  if (status.ok()) status = db.execute("COMMIT");
  if (!status.ok()) (void)db.execute("ROLLBACK");
  return status;
}

}  // namespace m1::agents
