// m1::Engine's API, on the callers' threads: sessions, calls handed to the engine thread
// (engine_steps.cpp), save / load, stats.
#include "runtime/engine.h"

#include <algorithm>

#include "runtime/engine_impl.h"
#include "runtime/session_file.h"

namespace m1 {

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->work_ready.notify_all();
  if (impl_->engine_thread.joinable()) impl_->engine_thread.join();
  // Snapshots outlive the process where there is a disk tier; a failure only loses cache.
  if (impl_->store) (void)impl_->store->persist_all();
}

Expected<std::unique_ptr<Engine>> Engine::open(const EngineOptions & options, std::unique_ptr<SequenceModel> model,
                                               std::unique_ptr<EngineText> text) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->mask = text ? text->defined_ids(model->vocab_size()) : TokenMask(model->vocab_size(), 1);
  if (std::none_of(impl->mask.begin(), impl->mask.end(), [](std::uint8_t a) { return a != 0; }))
    return Status::error(options.model_dir + ": the tokenizer defines none of the model's " +
                         std::to_string(model->vocab_size()) + " ids");
  // A model that cannot sample itself says so; the engine then samples on the host.
  if (options.device_sampling) (void)model->enable_sampling(impl->mask);
  if (options.state_cache) {
    const SequenceModel * m = model.get();
    StateDecoder decoder = [m](std::span<const std::uint8_t> bytes) -> Expected<std::shared_ptr<const CachedState>> {
      Expected<std::unique_ptr<SequenceState>> state = m->deserialize_state(bytes);
      if (!state) return state.status();
      return std::shared_ptr<const CachedState>(std::move(*state));
    };
    Expected<std::unique_ptr<SnapshotStore>> store =
        SnapshotStore::open(options.cache_budgets, std::move(decoder), options.state_dir);
    if (!store) return store.status();
    impl->store = std::move(*store);
  }
  impl->model = std::move(model);
  impl->text = std::move(text);
  impl->planner = StepPlanner(options.step_budget);
  Impl * raw = impl.get();
  impl->engine_thread = std::thread([raw] { raw->run_engine_thread(); });
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

size_t Engine::vocab_size() const { return impl_->model->vocab_size(); }
const EngineText * Engine::text() const { return impl_->text.get(); }
const TokenMask & Engine::generable_ids() const { return impl_->mask; }

SessionId Engine::create_session() {
  auto session = std::make_shared<Session>();
  session->state = impl_->model->new_state();
  std::lock_guard lock(impl_->mu);
  session->id = impl_->next_session++;
  impl_->sessions[session->id] = session;
  return session->id;
}

// Under mu: the session, if it exists and no call runs on it.
Expected<std::shared_ptr<Session>> Engine::Impl::idle_session(SessionId id, const char * what) const {
  auto it = sessions.find(id);
  if (it == sessions.end()) return Status::error(std::string(what) + ": no session " + std::to_string(id));
  if (it->second->busy)
    return Status::error(std::string(what) + ": session " + std::to_string(id) +
                         " is busy with another call (one call per session at a time)");
  return it->second;
}

Expected<SessionId> Engine::fork(SessionId source) {
  std::lock_guard lock(impl_->mu);
  Expected<std::shared_ptr<Session>> s = impl_->idle_session(source, "fork");
  if (!s) return s.status();
  auto copy = std::make_shared<Session>();
  copy->tokens = (*s)->tokens;
  Expected<std::unique_ptr<SequenceState>> state = (*s)->state->fork();
  if (!state) return state.status().with_context("fork");
  copy->state = std::move(*state);
  copy->id = impl_->next_session++;
  impl_->sessions[copy->id] = copy;
  return copy->id;
}

Status Engine::close_session(SessionId id) {
  std::lock_guard lock(impl_->mu);
  Expected<std::shared_ptr<Session>> s = impl_->idle_session(id, "close session");
  if (!s) return s.status();
  impl_->sessions.erase(id);
  return Status();
}

Expected<SessionInfo> Engine::session_info(SessionId id) const {
  std::lock_guard lock(impl_->mu);
  Expected<std::shared_ptr<Session>> s = impl_->idle_session(id, "session info");
  if (!s) return s.status();
  return SessionInfo{(*s)->tokens.size(), (*s)->state->n_tokens(), (*s)->state->byte_size()};
}

Expected<std::vector<Token>> Engine::session_tokens(SessionId id) const {
  std::lock_guard lock(impl_->mu);
  Expected<std::shared_ptr<Session>> s = impl_->idle_session(id, "session tokens");
  if (!s) return s.status();
  return (*s)->tokens;
}

// Under mu, with the session marked busy by the caller: queues the call for the engine thread.
std::shared_ptr<Job> Engine::Impl::submit(std::shared_ptr<Session> session, Job::Kind kind) {
  auto job = std::make_shared<Job>();
  job->kind = kind;
  job->session = std::move(session);
  submitted.push_back(job);
  work_ready.notify_one();
  return job;
}

Status Engine::append(SessionId id, std::span<const Token> tokens) {
  const size_t vocab = impl_->model->vocab_size();
  for (Token t : tokens)
    if (t < 0 || size_t(t) >= vocab)
      return Status::error("append: token " + std::to_string(t) + " is outside the vocabulary [0, " +
                           std::to_string(vocab) + ")");
  std::unique_lock lock(impl_->mu);
  Expected<std::shared_ptr<Session>> s = impl_->idle_session(id, "append");
  if (!s) return s.status();
  (*s)->busy = true;
  (*s)->tokens.insert((*s)->tokens.end(), tokens.begin(), tokens.end());
  std::shared_ptr<Job> job = impl_->submit(*s, Job::Kind::append);
  impl_->job_progress.wait(lock, [&] { return job->done; });
  return job->status;
}

Expected<GenerateResult> Engine::generate(SessionId id, const GenerateRequest & request,
                                          const StreamCallback & on_token) {
  Expected<std::unique_ptr<Generation>> generation = Generation::start(request, impl_->mask, impl_->text.get());
  if (!generation) return generation.status();
  std::unique_lock lock(impl_->mu);
  Expected<std::shared_ptr<Session>> s = impl_->idle_session(id, "generate");
  if (!s) return s.status();
  if ((*s)->tokens.empty())
    return Status::error("generate: session " + std::to_string(id) + " is empty: append a prompt first");
  (*s)->busy = true;
  std::shared_ptr<Job> job = impl_->submit(*s, Job::Kind::generate);
  job->generation = std::move(*generation);
  while (true) {
    impl_->job_progress.wait(lock, [&] { return job->done || !job->events.empty(); });
    std::deque<TokenEvent> events;
    events.swap(job->events);
    const bool done = job->done;
    lock.unlock();
    impl_->work_ready.notify_one();  // the session may have paused on unread events
    if (on_token)
      for (const TokenEvent & event : events) on_token(event);
    lock.lock();
    if (done && job->events.empty()) break;
  }
  if (!job->status.ok()) return job->status;
  return job->generation->result();
}

void Engine::cancel(SessionId id) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->sessions.find(id);
  if (it != impl_->sessions.end() && it->second->busy) it->second->cancel_requested = true;
  impl_->work_ready.notify_one();
}

Status Engine::save(SessionId id, const std::string & path) {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(impl_->mu);
    Expected<std::shared_ptr<Session>> s = impl_->idle_session(id, "save");
    if (!s) return s.status();
    session = *s;
    session->busy = true;  // no call may change it while it is written
  }
  Expected<std::vector<std::uint8_t>> bytes = session->state->serialize();
  Status written = bytes ? write_session_file(path, SessionFile{impl_->model->vocab_size(), session->tokens, std::move(*bytes)})
                         : bytes.status();
  written = written.with_context("save");
  std::lock_guard lock(impl_->mu);
  session->busy = false;
  return written;
}

Expected<SessionId> Engine::load(const std::string & path) {
  Expected<SessionFile> file = read_session_file(path);
  if (!file) return file.status().with_context("load");
  if (file->vocab_size != impl_->model->vocab_size())
    return Status::error("load: " + path + ": saved with a vocabulary of " + std::to_string(file->vocab_size) +
                         " ids, this model has " + std::to_string(impl_->model->vocab_size()));
  Expected<std::unique_ptr<SequenceState>> state = impl_->model->deserialize_state(file->state);
  if (!state) return state.status().with_context("load: " + path);
  if ((*state)->n_tokens() > file->tokens.size())
    return Status::error("load: " + path + ": the memory covers more tokens than the session holds");
  auto session = std::make_shared<Session>();
  session->tokens = std::move(file->tokens);
  session->state = std::move(*state);
  std::lock_guard lock(impl_->mu);
  session->id = impl_->next_session++;
  impl_->sessions[session->id] = session;
  return session->id;
}

EngineStats Engine::stats() const {
  std::lock_guard lock(impl_->mu);
  EngineStats out = impl_->counters;
  out.sessions = impl_->sessions.size();
  if (impl_->store) {
    out.cache_hits = impl_->store->counters().hits;
    out.cache_misses = impl_->store->counters().misses;
    out.cache_bytes = impl_->store->bytes();
    for (int t = 0; t < kNumTiers; ++t) out.snapshots[t] = impl_->store->count(Tier(t));
  }
  return out;
}

}  // namespace m1
