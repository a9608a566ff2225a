// The durable record of agent sessions: one SQLite file in WAL mode (inspect it with `sqlite3`).
// Tables: `sessions` (one row per session, its metadata and status), `events` (an append-only log
// per session: messages, tool calls, tool results, usage, compaction, errors, stop reasons; UPDATE
// and DELETE are refused by triggers) and `snapshots` (engine memory files saved for a session at
// an event). Every append is its own committed transaction before it returns, so the loop writes
// an event and only then acts on it: a kill -9 at any point loses nothing that was committed, and
// SQLite's journal keeps the file intact. Safe to share between threads (one lock per store) and
// between processes (WAL readers and a busy timeout for writers).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agents/event.h"
#include "agents/sqlite_connection.h"
#include "common/status.h"

namespace m1::agents {

struct StoreOptions {
  // FULL syncs the WAL on every commit (survives power loss); NORMAL survives a killed process
  // (the WAL is written before COMMIT returns) but may lose the last commits on power loss.
  bool sync_every_commit = true;
  std::string vfs;       // SQLite VFS name; empty = the default (tests inject I/O failures)
  int busy_timeout_ms = 10000;
};

struct SessionInfo {
  std::string id;
  std::string title;      // the task, shortened
  std::string model;      // e.g. "script:solution.json" or a model directory
  std::string workspace;
  std::string parent_id;  // a fork's origin; empty otherwise
  int64_t parent_seq = 0; // the last event copied from the parent
  std::string status;     // "running", or the stop reason of the last run
  double created = 0;     // unix seconds
  double updated = 0;
  int64_t n_events = 0;
};

struct SnapshotInfo {
  int64_t seq = 0;        // the event the memory corresponds to (everything up to it is in)
  std::string path;       // the engine's saved session file
  int64_t n_tokens = 0;
  double created = 0;
};

class SessionStore {
public:
  // Opens or creates the store at `path` (its folder must exist), sets WAL mode and the schema.
  static Expected<std::unique_ptr<SessionStore>> open(const std::string & path, const StoreOptions & options = {});

  const std::string & path() const { return path_; }

  // A new session with a fresh id (time-ordered, e.g. "20250114-093012-4f2a9c"); returns the id.
  Expected<std::string> create_session(const SessionInfo & info);
  // Appends one event and commits; returns its sequence number (1, 2, ... per session).
  Expected<int64_t> append(const std::string & session_id, const std::string & kind, const Json & payload);
  Status set_status(const std::string & session_id, const std::string & status);

  Expected<SessionInfo> session(const std::string & session_id);
  // Most recently updated first.
  Expected<std::vector<SessionInfo>> list_sessions();
  // Events with seq > after_seq, in order.
  Expected<std::vector<Event>> events(const std::string & session_id, int64_t after_seq = 0);

  // A new session holding copies of events 1..at_seq of `session_id` (at_seq == 0: none);
  // it then evolves on its own. Returns the new id.
  Expected<std::string> fork(const std::string & session_id, int64_t at_seq);

  Status add_snapshot(const std::string & session_id, const SnapshotInfo & snapshot);
  // The snapshot with the highest seq, if any.
  Expected<std::optional<SnapshotInfo>> latest_snapshot(const std::string & session_id);

  // PRAGMA integrity_check's answer ("ok" when the file is sound).
  Expected<std::string> integrity_check();

private:
  SessionStore(std::string path, SqliteConnection db) : path_(std::move(path)), db_(std::move(db)) {}
  Status create_schema();
  Expected<SessionInfo> session_locked(const std::string & session_id);
  Expected<std::string> insert_session_locked(const SessionInfo & info);

  std::string path_;
  std::mutex mutex_;    // guards db_: one statement at a time on this connection
  SqliteConnection db_;
};

// Where front ends keep sessions: $M1_HOME/sessions.db, else ~/.m1/sessions.db (the folder is
// created when missing).
Expected<std::string> default_store_path();

}  // namespace m1::agents
