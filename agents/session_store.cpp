#include "agents/session_store.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <cerrno>
#include <cstring>

namespace m1::agents {

namespace {

constexpr int kSchemaVersion = 1;

// The schema. Events are append-only: the triggers refuse UPDATE and DELETE, so a bug can never
// rewrite history; forks copy events instead of sharing them.
constexpr const char * kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '',
  workspace TEXT NOT NULL DEFAULT '',
  parent_id TEXT,
  parent_seq INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'running',
  created REAL NOT NULL,
  updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  session_id TEXT NOT NULL REFERENCES sessions(id),
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  time REAL NOT NULL,
  PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
  session_id TEXT NOT NULL REFERENCES sessions(id),
  seq INTEGER NOT NULL,
  path TEXT NOT NULL,
  n_tokens INTEGER NOT NULL,
  created REAL NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
)sql";

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Time-ordered and unique enough for one user's store: local time to the second + 24 random bits.
std::string new_session_id() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  std::time_t t = std::time(nullptr);
  std::tm local{};
  localtime_r(&t, &local);
  char text[40];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &local);
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "-%06x", unsigned(random() & 0xffffff));
  return std::string(text) + suffix;
}

SessionInfo read_session_row(const SqliteStatement & row) {
  SessionInfo info;
  info.id = row.column_text(0);
  info.title = row.column_text(1);
  info.model = row.column_text(2);
  info.workspace = row.column_text(3);
  info.parent_id = row.column_text(4);
  info.parent_seq = row.column_int(5);
  info.status = row.column_text(6);
  info.created = row.column_double(7);
  info.updated = row.column_double(8);
  info.n_events = row.column_int(9);
  return info;
}

constexpr const char * kSessionColumns =
    "SELECT id, title, model, workspace, COALESCE(parent_id, ''), parent_seq, status, created, updated, "
    "(SELECT COUNT(*) FROM events e WHERE e.session_id = s.id) FROM sessions s ";

}  // namespace

Expected<std::unique_ptr<SessionStore>> SessionStore::open(const std::string & path, const StoreOptions & options) {
  Expected<SqliteConnection> db = SqliteConnection::open(path, options.vfs);
  if (!db.ok()) return db.status();
  sqlite3_busy_timeout(db->handle(), options.busy_timeout_ms);
  std::unique_ptr<SessionStore> store(new SessionStore(path, std::move(*db)));
  Expected<std::string> mode = store->db_.query_text("PRAGMA journal_mode=WAL");
  if (!mode.ok()) return mode.status().with_context(path);
  if (*mode != "wal") return Status::error(path + ": the session store needs WAL mode, SQLite chose '" + *mode + "'");
  M1_RETURN_IF_ERROR(store->db_.execute(options.sync_every_commit ? "PRAGMA synchronous=FULL"
                                                                   : "PRAGMA synchronous=NORMAL"));
  M1_RETURN_IF_ERROR(store->db_.execute("PRAGMA foreign_keys=ON"));
  M1_RETURN_IF_ERROR(store->create_schema().with_context(path));
  return store;
}

Status SessionStore::create_schema() {
  return in_transaction(db_, [&]() -> Status {
    M1_RETURN_IF_ERROR(db_.execute(kSchema));
    Expected<SqliteStatement> version = db_.prepare("SELECT value FROM meta WHERE key = 'schema_version'");
    if (!version.ok()) return version.status();
    Expected<bool> row = version->step();
    if (!row.ok()) return row.status();
    if (*row) {
      std::string found = version->column_text(0);
      if (found != std::to_string(kSchemaVersion))
        return Status::error("session store schema version " + found + ", this m1 reads version " +
                             std::to_string(kSchemaVersion));
      return Status();
    }
    Expected<SqliteStatement> insert = db_.prepare("INSERT INTO meta(key, value) VALUES('schema_version', ?)");
    if (!insert.ok()) return insert.status();
    return insert->bind(1, std::to_string(kSchemaVersion)).run();
  });
}

Expected<std::string> SessionStore::insert_session_locked(const SessionInfo & info) {
  std::string id = new_session_id();
  Expected<SqliteStatement> insert = db_.prepare(
      "INSERT INTO sessions(id, title, model, workspace, parent_id, parent_seq, status, created, updated) "
      "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  double now = now_seconds();
  insert->bind(1, id).bind(2, info.title).bind(3, info.model).bind(4, info.workspace);
  if (info.parent_id.empty()) insert->bind_null(5);
  else insert->bind(5, info.parent_id);
  insert->bind(6, info.parent_seq).bind(7, info.status.empty() ? std::string("running") : info.status);
  insert->bind(8, now).bind(9, now);
  M1_RETURN_IF_ERROR(insert->run());
  return id;
}

Expected<std::string> SessionStore::create_session(const SessionInfo & info) {
  std::lock_guard lock(mutex_);
  // Ids carry 24 random bits per second; retry the rare collision instead of failing.
  for (int attempt = 0;; ++attempt) {
    Expected<std::string> id = insert_session_locked(info);
    if (id.ok() || attempt == 4 || id.status().message().find("UNIQUE") == std::string::npos) return id;
  }
}

Expected<int64_t> SessionStore::append(const std::string & session_id, const std::string & kind, const Json & payload) {
  std::lock_guard lock(mutex_);
  int64_t seq = 0;
  Status status = in_transaction(db_, [&]() -> Status {
    Expected<SqliteStatement> insert = db_.prepare(
        "INSERT INTO events(session_id, seq, kind, payload, time) "
        "VALUES(?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id = ?1), ?2, ?3, ?4) "
        "RETURNING seq");
    if (!insert.ok()) return insert.status();
    double now = now_seconds();
    // Tool output may hold invalid UTF-8: store it with U+FFFD rather than fail the append.
    insert->bind(1, session_id).bind(2, kind).bind(3, payload.dump(-1, ' ', false, Json::error_handler_t::replace)).bind(4, now);
    Expected<bool> row = insert->step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::error("sqlite: INSERT INTO events returned no seq");
    seq = insert->column_int(0);
    M1_RETURN_IF_ERROR(insert->run());
    Expected<SqliteStatement> touch = db_.prepare("UPDATE sessions SET updated = ? WHERE id = ?");
    if (!touch.ok()) return touch.status();
    return touch->bind(1, now).bind(2, session_id).run();
  });
  if (!status.ok()) {
    if (status.message().find("FOREIGN KEY") != std::string::npos)
      return Status::error("session " + session_id + ": no such session in " + path_);
    return status.with_context(path_);
  }
  return seq;
}

Status SessionStore::set_status(const std::string & session_id, const std::string & status) {
  std::lock_guard lock(mutex_);
  Expected<SqliteStatement> update = db_.prepare("UPDATE sessions SET status = ?, updated = ? WHERE id = ?");
  if (!update.ok()) return update.status();
  return update->bind(1, status).bind(2, now_seconds()).bind(3, session_id).run().with_context(path_);
}

Expected<SessionInfo> SessionStore::session_locked(const std::string & session_id) {
  Expected<SqliteStatement> query = db_.prepare(std::string(kSessionColumns) + "WHERE id = ?");
  if (!query.ok()) return query.status();
  query->bind(1, session_id);
  Expected<bool> row = query->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::error("session " + session_id + ": no such session in " + path_);
  return read_session_row(*query);
}

Expected<SessionInfo> SessionStore::session(const std::string & session_id) {
  std::lock_guard lock(mutex_);
  return session_locked(session_id);
}

Expected<std::vector<SessionInfo>> SessionStore::list_sessions() {
  std::lock_guard lock(mutex_);
  Expected<SqliteStatement> query = db_.prepare(std::string(kSessionColumns) + "ORDER BY updated DESC, id DESC");
  if (!query.ok()) return query.status();
  std::vector<SessionInfo> sessions;
  for (;;) {
    Expected<bool> row = query->step();
    if (!row.ok()) return row.status();
    if (!*row) return sessions;
    sessions.push_back(read_session_row(*query));
  }
}

Expected<std::vector<Event>> SessionStore::events(const std::string & session_id, int64_t after_seq) {
  std::lock_guard lock(mutex_);
  Expected<SqliteStatement> query = db_.prepare(
      "SELECT seq, kind, payload, time FROM events WHERE session_id = ? AND seq > ? ORDER BY seq");
  if (!query.ok()) return query.status();
  query->bind(1, session_id).bind(2, after_seq);
  std::vector<Event> events;
  for (;;) {
    Expected<bool> row = query->step();
    if (!row.ok()) return row.status();
    if (!*row) return events;
    Event event;
    event.seq = query->column_int(0);
    event.kind = query->column_text(1);
    event.payload = Json::parse(query->column_text(2), nullptr, false);
    if (event.payload.is_discarded())
      return Status::error(path_ + ": session " + session_id + " event " + std::to_string(event.seq) +
                           ": payload is not JSON");
    event.time = query->column_double(3);
    events.push_back(std::move(event));
  }
}

Expected<std::string> SessionStore::fork(const std::string & session_id, int64_t at_seq) {
  std::lock_guard lock(mutex_);
  Expected<SessionInfo> parent = session_locked(session_id);
  if (!parent.ok()) return parent.status();
  if (at_seq < 0 || at_seq > parent->n_events)
    return Status::error("session " + session_id + ": cannot fork at event " + std::to_string(at_seq) +
                         ", it has events 1.." + std::to_string(parent->n_events));
  std::string child_id;
  Status status = in_transaction(db_, [&]() -> Status {
    SessionInfo child = *parent;
    child.parent_id = session_id;
    child.parent_seq = at_seq;
    child.status = "forked";
    Expected<std::string> id = insert_session_locked(child);
    if (!id.ok()) return id.status();
    child_id = *id;
    Expected<SqliteStatement> copy = db_.prepare(
        "INSERT INTO events(session_id, seq, kind, payload, time) "
        "SELECT ?, seq, kind, payload, time FROM events WHERE session_id = ? AND seq <= ?");
    if (!copy.ok()) return copy.status();
    return copy->bind(1, child_id).bind(2, session_id).bind(3, at_seq).run();
  });
  if (!status.ok()) return status.with_context(path_);
  return child_id;
}

Status SessionStore::add_snapshot(const std::string & session_id, const SnapshotInfo & snapshot) {
  std::lock_guard lock(mutex_);
  Expected<SqliteStatement> insert = db_.prepare(
      "INSERT OR REPLACE INTO snapshots(session_id, seq, path, n_tokens, created) VALUES(?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  insert->bind(1, session_id).bind(2, snapshot.seq).bind(3, snapshot.path).bind(4, snapshot.n_tokens);
  insert->bind(5, snapshot.created ? snapshot.created : now_seconds());
  return insert->run().with_context(path_);
}

Expected<std::optional<SnapshotInfo>> SessionStore::latest_snapshot(const std::string & session_id) {
  std::lock_guard lock(mutex_);
  Expected<SqliteStatement> query = db_.prepare(
      "SELECT seq, path, n_tokens, created FROM snapshots WHERE session_id = ? ORDER BY seq DESC LIMIT 1");
  if (!query.ok()) return query.status();
  query->bind(1, session_id);
  Expected<bool> row = query->step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<SnapshotInfo>();
  SnapshotInfo snapshot{query->column_int(0), query->column_text(1), query->column_int(2), query->column_double(3)};
  return std::optional<SnapshotInfo>(snapshot);
}

Expected<std::string> SessionStore::integrity_check() {
  std::lock_guard lock(mutex_);
  return db_.query_text("PRAGMA integrity_check");
}

Expected<std::string> default_store_path() {
  std::string folder;
  if (const char * home = std::getenv("M1_HOME"); home && *home) folder = home;
  else if (const char * user_home = std::getenv("HOME"); user_home && *user_home) folder = std::string(user_home) + "/.m1";
  else return Status::error("session store: neither M1_HOME nor HOME is set");
  if (mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::error(folder + ": cannot create the session store folder: " + std::strerror(errno));
  return folder + "/sessions.db";
}

}  // namespace m1::agents
