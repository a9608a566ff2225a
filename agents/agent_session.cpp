#include "agents/agent_session.h"

namespace m1::agents {

namespace {

std::string title_of(const std::string & task) {
  std::string title = task.substr(0, task.find('\n'));
  return title.size() > 80 ? title.substr(0, 77) + "..." : title;
}

}  // namespace

Expected<std::unique_ptr<AgentSession>> AgentSession::start(SessionStore * store, const SessionSetup & setup, Json tools,
                                                           const std::vector<LoopObserver *> & observers) {
  std::string id;
  if (store) {
    SessionInfo info;
    info.title = title_of(setup.task);
    info.model = setup.model;
    info.workspace = setup.workspace;
    Expected<std::string> created = store->create_session(info);
    if (!created.ok()) return created.status();
    id = *created;
  }
  Conversation conversation(std::move(tools));
  std::unique_ptr<AgentSession> session(new AgentSession(EventLog(store, id), std::move(conversation)));
  for (LoopObserver * observer : observers) session->log_.add_observer(observer);
  std::vector<Message> first;
  if (!setup.system_prompt.empty()) first.push_back(Message::system_message(setup.system_prompt));
  first.push_back(Message::user_message(setup.task));
  for (Message & m : first) {
    Expected<Event> event = session->log_.record(event_kind::message, message_to_json(m));
    if (!event.ok()) return event.status();
    session->conversation_.append(std::move(m));
  }
  return session;
}

Expected<std::unique_ptr<AgentSession>> AgentSession::from_log(SessionStore & store, const std::string & session_id, Json tools) {
  Expected<std::vector<Event>> events = store.events(session_id);
  if (!events.ok()) return events.status();
  if (events->empty()) {
    Expected<SessionInfo> info = store.session(session_id);  // says "no such session" if so
    if (!info.ok()) return info.status();
  }
  Expected<Replay> replay = replay_events(*events, tools);
  if (!replay.ok()) return replay.status().with_context("session " + session_id);
  std::unique_ptr<AgentSession> session(new AgentSession(EventLog(&store, session_id), std::move(replay->conversation)));
  session->previous_turns_ = replay->turns;
  session->answered_ = replay->answered;
  session->snapshot_ = replay->snapshot;
  // Calls a crash cut off get their "interrupted" outcome in the log too, so log and
  // conversation agree from here on.
  for (Json & missing : replay->missing_results) {
    Expected<Event> event = session->log_.record(event_kind::tool_result, std::move(missing));
    if (!event.ok()) return event.status();
  }
  return session;
}

Expected<std::unique_ptr<AgentSession>> AgentSession::resume(SessionStore & store, const std::string & session_id, Json tools) {
  Expected<std::unique_ptr<AgentSession>> session = from_log(store, session_id, std::move(tools));
  if (session.ok()) (void)store.set_status(session_id, "running");
  return session;
}

Expected<std::unique_ptr<AgentSession>> AgentSession::fork(SessionStore & store, const std::string & session_id,
                                                           int64_t at_seq, Json tools) {
  Expected<std::string> child = store.fork(session_id, at_seq);
  if (!child.ok()) return child.status();
  return from_log(store, *child, std::move(tools));
}

Status AgentSession::save_memory(ModelBackend & model, const std::string & folder) {
  SessionStore * store = log_.store();
  if (!store) return Status::error("session: no store to record the snapshot in");
  Expected<SessionInfo> info_now = store->session(id());
  if (!info_now.ok()) return info_now.status();
  int64_t seq = info_now->n_events;  // events are numbered 1..n
  std::string path = folder + "/" + id() + "-" + std::to_string(seq) + ".m1s";
  Expected<Json> saved = model.save_memory(path);
  if (!saved.ok()) return saved.status();
  Expected<Event> event = log_.record(event_kind::snapshot, *saved);
  if (!event.ok()) return event.status();
  SnapshotInfo info;
  info.seq = event->seq;
  info.path = path;
  info.n_tokens = saved->value("n_tokens", int64_t(0));
  M1_RETURN_IF_ERROR(store->add_snapshot(id(), info));
  snapshot_ = *saved;
  return Status();
}

Status AgentSession::add_user_message(const std::string & text) {
  Message message = Message::user_message(text);
  Expected<Event> event = log_.record(event_kind::message, message_to_json(message));
  if (!event.ok()) return event.status();
  conversation_.append(std::move(message));
  answered_ = false;
  return Status();
}

}  // namespace m1::agents
