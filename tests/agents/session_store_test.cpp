// The session store: WAL mode, append-only events, list/fork/snapshots, failure injection on
// every write/sync, and a child process killed with SIGKILL at random points while appending.
#include "agents/session_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/agents/faulty_vfs.h"
#include "tests/agents/temp_dir.h"
#include "tests/common/run_command.h"

namespace m1::agents {
namespace {

using test::TempDir;

std::unique_ptr<SessionStore> open_store(const std::string & path, StoreOptions options = {}) {
  auto store = SessionStore::open(path, options);
  EXPECT_TRUE(store.ok()) << store.status().message();
  return store.ok() ? std::move(*store) : nullptr;
}

SessionInfo titled(std::string title, std::string workspace = "", std::string model = "") {
  SessionInfo info;
  info.title = std::move(title);
  info.workspace = std::move(workspace);
  info.model = std::move(model);
  return info;
}

SnapshotInfo snapshot_at(int64_t seq, std::string path, int64_t n_tokens) {
  SnapshotInfo snapshot;
  snapshot.seq = seq;
  snapshot.path = std::move(path);
  snapshot.n_tokens = n_tokens;
  return snapshot;
}

StoreOptions with_sync(bool sync_every_commit) {
  StoreOptions options;
  options.sync_every_commit = sync_every_commit;
  return options;
}

StoreOptions with_vfs(const char * vfs) {
  StoreOptions options;
  options.vfs = vfs;
  return options;
}

// The payload the writer child stores as event `i`: deterministic, so the parent can check it,
// and of varied size (up to ~40 KiB) so commits span pages and trigger checkpoints.
Json payload_for(int64_t i) {
  std::string blob(size_t((i * 7919) % 40000), char('a' + i % 26));
  return Json{{"i", i}, {"blob", blob}};
}

TEST(SessionStore, UsesWalAndIsReadableBySqlite3) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_TRUE(store);
  auto id = store->create_session(titled("fix the bug", "/w", "script:x.json"));
  ASSERT_TRUE(id.ok()) << id.status().message();
  ASSERT_TRUE(store->append(*id, event_kind::message, Json{{"role", "user"}, {"text", "hi"}}).ok());
  auto r = test::run_command("sqlite3 " + dir.file("s.db") + " 'PRAGMA journal_mode; SELECT kind, payload FROM events;'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "wal\nmessage|{\"role\":\"user\",\"text\":\"hi\"}\n");
}

TEST(SessionStore, AppendNumbersEventsPerSessionAndReadsThemBack) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  auto a = store->create_session(titled("a"));
  auto b = store->create_session(titled("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  for (int i = 1; i <= 3; ++i) {
    auto seq_a = store->append(*a, event_kind::usage, Json{{"n", i}});
    ASSERT_TRUE(seq_a.ok());
    EXPECT_EQ(*seq_a, i);
  }
  auto seq_b = store->append(*b, event_kind::error, Json{{"message", "x"}});
  ASSERT_TRUE(seq_b.ok());
  EXPECT_EQ(*seq_b, 1);
  auto events = store->events(*a);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*events)[i].seq, i + 1);
    EXPECT_EQ((*events)[i].kind, "usage");
    EXPECT_EQ((*events)[i].payload["n"], i + 1);
  }
  auto tail = store->events(*a, 2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].seq, 3);
}

TEST(SessionStore, EventsCannotBeRewrittenOrDeleted) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  auto id = store->create_session(SessionInfo());
  ASSERT_TRUE(store->append(*id, event_kind::message, Json{{"text", "original"}}).ok());
  store.reset();
  auto r = test::run_command("sqlite3 " + dir.file("s.db") + " \"UPDATE events SET payload = '{}'\"");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("append-only"), std::string::npos) << r.err;
  r = test::run_command("sqlite3 " + dir.file("s.db") + " 'DELETE FROM events'");
  EXPECT_NE(r.exit_code, 0);
  store = open_store(dir.file("s.db"));
  auto events = store->events(*id);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].payload["text"], "original");
}

TEST(SessionStore, AppendToUnknownSessionNamesIt) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  auto seq = store->append("nope", event_kind::message, Json::object());
  ASSERT_FALSE(seq.ok());
  EXPECT_NE(seq.status().message().find("session nope: no such session"), std::string::npos)
      << seq.status().message();
}

TEST(SessionStore, ListsSessionsMostRecentFirstWithCounts) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  auto first = store->create_session(titled("first"));
  auto second = store->create_session(titled("second"));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(store->append(*first, event_kind::message, Json::object()).ok());
  ASSERT_TRUE(store->set_status(*first, "answered").ok());
  auto sessions = store->list_sessions();
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 2u);
  EXPECT_EQ((*sessions)[0].id, *first);
  EXPECT_EQ((*sessions)[0].n_events, 1);
  EXPECT_EQ((*sessions)[0].status, "answered");
  EXPECT_EQ((*sessions)[1].id, *second);
  EXPECT_EQ((*sessions)[1].status, "running");
  EXPECT_EQ((*sessions)[1].n_events, 0);
}

TEST(SessionStore, ForkCopiesAPrefixAndThenDiverges) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  auto parent = store->create_session(titled("t", "/w"));
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(store->append(*parent, event_kind::usage, Json{{"n", i}}).ok());
  auto child = store->fork(*parent, 3);
  ASSERT_TRUE(child.ok()) << child.status().message();
  ASSERT_TRUE(store->append(*child, event_kind::message, Json{{"text", "child"}}).ok());
  ASSERT_TRUE(store->append(*parent, event_kind::message, Json{{"text", "parent"}}).ok());

  auto child_events = store->events(*child);
  ASSERT_EQ(child_events->size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*child_events)[i].payload["n"], i + 1);
  EXPECT_EQ((*child_events)[3].seq, 4);
  EXPECT_EQ((*child_events)[3].payload["text"], "child");
  auto parent_events = store->events(*parent);
  ASSERT_EQ(parent_events->size(), 6u);
  EXPECT_EQ((*parent_events)[5].payload["text"], "parent");

  auto info = store->session(*child);
  EXPECT_EQ(info->parent_id, *parent);
  EXPECT_EQ(info->parent_seq, 3);
  EXPECT_EQ(info->workspace, "/w");
  EXPECT_FALSE(store->fork(*parent, 7).ok());
  auto empty = store->fork(*parent, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(store->events(*empty)->empty());
}

TEST(SessionStore, SnapshotsKeepTheLatest) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  auto id = store->create_session(SessionInfo());
  auto none = store->latest_snapshot(*id);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store->add_snapshot(*id, snapshot_at(4, "/s/4.m1s", 100)).ok());
  ASSERT_TRUE(store->add_snapshot(*id, snapshot_at(9, "/s/9.m1s", 250)).ok());
  auto latest = store->latest_snapshot(*id);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->seq, 9);
  EXPECT_EQ((*latest)->path, "/s/9.m1s");
  EXPECT_EQ((*latest)->n_tokens, 250);
}

TEST(SessionStore, RefusesAFileThatIsNotAStore) {
  TempDir dir;
  test::write_file(dir.file("junk.db"), std::string(4096, 'x'));
  auto store = SessionStore::open(dir.file("junk.db"));
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("junk.db"), std::string::npos) << store.status().message();
}

// Fails the n-th write/sync/truncate for every n until a run completes without reaching it. An
// append that reported success must be in the store afterwards, the file must pass
// integrity_check, and event numbers must stay contiguous.
TEST(SessionStore, EveryInjectedIoFailureKeepsCommittedEventsAndIntegrity) {
  const char * vfs = test::register_faulty_vfs();
  constexpr int kEvents = 6;
  int failures_seen = 0;
  for (int64_t n = 1;; ++n) {
    ASSERT_LT(n, 2000) << "the run never completed without a fault";
    TempDir dir;
    std::string id;
    {
      auto store = open_store(dir.file("s.db"));
      id = *store->create_session(SessionInfo());
    }
    std::vector<int64_t> acknowledged;
    test::fail_nth_io(n);
    {
      auto store = SessionStore::open(dir.file("s.db"), with_vfs(vfs));
      if (store.ok()) {
        for (int64_t i = 1; i <= kEvents; ++i) {
          auto seq = (*store)->append(id, event_kind::usage, payload_for(i));
          if (seq.ok()) acknowledged.push_back(i);
          else ++failures_seen;
        }
      }
    }
    bool reached = test::io_operations() >= n;
    test::fail_nth_io(0);
    auto store = open_store(dir.file("s.db"));
    ASSERT_TRUE(store) << "n=" << n;
    EXPECT_EQ(*store->integrity_check(), "ok") << "n=" << n;
    auto events = store->events(id);
    ASSERT_TRUE(events.ok()) << events.status().message();
    std::set<int64_t> present;
    for (size_t k = 0; k < events->size(); ++k) {
      EXPECT_EQ((*events)[k].seq, int64_t(k + 1)) << "n=" << n;
      present.insert((*events)[k].payload["i"].get<int64_t>());
    }
    for (int64_t i : acknowledged) EXPECT_TRUE(present.count(i)) << "acknowledged event " << i << " lost, n=" << n;
    if (!reached) {
      EXPECT_EQ(acknowledged.size(), size_t(kEvents));
      break;
    }
  }
  EXPECT_GT(failures_seen, 0) << "no injected failure reached an append";
}

// A child appends events and reports each committed seq through a pipe; the parent kills it with
// SIGKILL after a random delay, then checks the store: intact, and every reported event present
// with its exact payload. The next child continues the same file, so later kills land on a store
// that already went through crashes (and WAL recovery).
void kill_writer_repeatedly(bool sync_every_commit) {
  TempDir dir;
  std::string path = dir.file("s.db");
  std::string id;
  {
    auto store = open_store(path);
    id = *store->create_session(titled("crash"));
  }
  std::mt19937 random(12345);
  std::set<int64_t> reported;
  for (int round = 0; round < 12; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      auto store = SessionStore::open(path, with_sync(sync_every_commit));
      if (!store.ok()) _exit(3);
      auto existing = (*store)->session(id);
      if (!existing.ok()) _exit(6);
      for (int64_t next = existing->n_events + 1;; ++next) {
        auto seq = (*store)->append(id, event_kind::tool_result, payload_for(next));
        if (!seq.ok() || *seq != next) _exit(4);
        if (write(fds[1], &next, sizeof next) != sizeof next) _exit(5);
      }
    }
    close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + random() % 120));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited early, status " << status;
    int64_t seq = 0;
    while (read(fds[0], &seq, sizeof seq) == sizeof seq) reported.insert(seq);
    close(fds[0]);

    auto store = open_store(path);
    ASSERT_TRUE(store);
    ASSERT_EQ(*store->integrity_check(), "ok") << "round " << round;
    auto events = store->events(id);
    ASSERT_TRUE(events.ok()) << events.status().message();
    std::map<int64_t, const Event *> by_seq;
    for (const Event & e : *events) by_seq[e.seq] = &e;
    for (int64_t s : reported) {
      ASSERT_TRUE(by_seq.count(s)) << "committed event " << s << " lost in round " << round;
      EXPECT_EQ(by_seq[s]->payload, payload_for(s)) << "event " << s;
    }
    EXPECT_EQ(int64_t(events->size()), events->empty() ? 0 : events->back().seq);  // contiguous
  }
  EXPECT_GT(reported.size(), 12u) << "the children committed too little to test anything";
}

TEST(SessionStoreCrash, KillDashNineLosesNothingCommittedWithFullSync) { kill_writer_repeatedly(true); }
TEST(SessionStoreCrash, KillDashNineLosesNothingCommittedWithNormalSync) { kill_writer_repeatedly(false); }

}  // namespace
}  // namespace m1::agents
