// Where the loop writes its events: the session store first (committed before the loop acts on
// the event), then the observers (transcript printers, --json output, tests). Without a store
// (tests, --no-store runs) events only reach the observers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agents/event.h"
#include "agents/session_store.h"
#include "agents/turn_format.h"

namespace m1::agents {

// Receives every recorded event, and streaming output as it arrives (not recorded).
class LoopObserver {
public:
  virtual ~LoopObserver() = default;
  virtual void on_event(const Event & event) { (void)event; }
  virtual void on_output(const OutputDelta & delta) { (void)delta; }
};

class EventLog {
public:
  EventLog() = default;
  EventLog(SessionStore * store, std::string session_id) : store_(store), session_id_(std::move(session_id)) {}

  void add_observer(LoopObserver * observer) { observers_.push_back(observer); }
  const std::string & session_id() const { return session_id_; }
  SessionStore * store() const { return store_; }

  // Commits the event to the store (if any), then tells the observers. A store failure is
  // returned and the observers are not told: the loop must not act on an unrecorded event.
  Expected<Event> record(const std::string & kind, Json payload);
  void output(const OutputDelta & delta);

private:
  SessionStore * store_ = nullptr;
  std::string session_id_;
  std::vector<LoopObserver *> observers_;
  int64_t next_seq_ = 0;  // without a store: numbering for observers
};

}  // namespace m1::agents
