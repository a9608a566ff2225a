#include "agents/event_log.h"

#include <chrono>

namespace m1::agents {

Expected<Event> EventLog::record(const std::string & kind, Json payload) {
  Event event;
  event.kind = kind;
  event.time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (store_) {
    Expected<int64_t> seq = store_->append(session_id_, kind, payload);
    if (!seq.ok()) return seq.status();
    event.seq = *seq;
  } else {
    event.seq = ++next_seq_;
  }
  event.payload = std::move(payload);
  for (LoopObserver * observer : observers_) observer->on_event(event);
  return event;
}

void EventLog::output(const OutputDelta & delta) {
  for (LoopObserver * observer : observers_) observer->on_output(delta);
}

}  // namespace m1::agents
