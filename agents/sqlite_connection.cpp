#include "agents/sqlite_connection.h"

namespace m1::agents {

namespace {

Status sqlite_error(sqlite3 * db, std::string_view what) {
  return Status::error("sqlite: " + std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

SqliteStatement & SqliteStatement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), int(text.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStatement & SqliteStatement::bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

SqliteStatement & SqliteStatement::bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

SqliteStatement & SqliteStatement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Expected<bool> SqliteStatement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char * sql = sqlite3_sql(stmt_);
  return sqlite_error(db_, std::string(sql ? sql : "statement").substr(0, 60));
}

Status SqliteStatement::run() {
  for (;;) {
    Expected<bool> row = step();
    if (!row.ok()) return row.status();
    if (!*row) return Status();
  }
}

std::string SqliteStatement::column_text(int column) const {
  const unsigned char * text = sqlite3_column_text(stmt_, column);
  int bytes = sqlite3_column_bytes(stmt_, column);
  return text ? std::string(reinterpret_cast<const char *>(text), size_t(bytes)) : std::string();
}

Expected<SqliteConnection> SqliteConnection::open(const std::string & path, const std::string & vfs) {
  sqlite3 * db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    Status status = Status::error(path + ": cannot open the session store: " +
                                  (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close(db);
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  return SqliteConnection(db);
}

SqliteConnection::~SqliteConnection() { sqlite3_close(db_); }

Expected<SqliteStatement> SqliteConnection::prepare(std::string_view sql) {
  sqlite3_stmt * stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), int(sql.size()), &stmt, nullptr) != SQLITE_OK)
    return sqlite_error(db_, std::string(sql.substr(0, 60)));
  return SqliteStatement(db_, stmt);
}

Status SqliteConnection::execute(std::string_view sql) {
  char * message = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string why = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return Status::error("sqlite: " + text.substr(0, 60) + ": " + why);
  }
  return Status();
}

Expected<std::string> SqliteConnection::query_text(std::string_view sql) {
  Expected<SqliteStatement> stmt = prepare(sql);
  if (!stmt.ok()) return stmt.status();
  Expected<bool> row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::error("sqlite: " + std::string(sql) + ": no row");
  return stmt->column_text(0);
}

}  // namespace m1::agents
