// The engine's inside, shared by engine.cpp (the API, on callers' threads) and engine_steps.cpp
// (the engine thread that runs the model). Not a public header.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "runtime/engine.h"
#include "runtime/engine_text.h"
#include "runtime/generation.h"

namespace m1 {

struct Session {
  SessionId id = 0;
  // tokens and state: written only by the engine thread while `busy`, else under Impl::mu.
  std::vector<Token> tokens;
  std::unique_ptr<SequenceState> state;  // covers tokens[0, state->n_tokens())
  bool busy = false;                     // a call is running on it; guarded by Impl::mu
  std::atomic<bool> cancel_requested{false};
};

// One append or generate call, from submission to completion.
struct Job {
  enum class Kind { append, generate } kind = Kind::append;
  std::shared_ptr<Session> session;
  std::unique_ptr<Generation> generation;  // generate only; engine thread
  std::vector<float> logits;               // engine thread
  SequenceModel::Sample sample;            // engine thread: the next token, where the model samples
  size_t prompt_left = 0;                  // engine thread: tokens given by the caller, not yet computed
  bool finished = false;                   // engine thread: finish_job ran
  // Guarded by Impl::mu: what the caller waits for.
  std::deque<TokenEvent> events;
  bool done = false;
  Status status;
};

// What one engine step did, gathered before it is published (engine thread).
struct StepResults {
  std::vector<SequenceModel::Item> items;
  std::vector<Job *> jobs;  // items[i] belongs to jobs[i]
  std::vector<std::pair<Job *, TokenEvent>> events;
  std::vector<std::pair<Job *, Status>> finishing;
  size_t n_computed = 0, n_prefilled = 0, n_generated = 0;
};

struct Engine::Impl {
  EngineOptions options;
  std::unique_ptr<SequenceModel> model;
  std::unique_ptr<EngineText> text;
  TokenMask mask;  // ids generation may produce

  mutable std::mutex mu;
  std::condition_variable work_ready;  // engine thread waits: new jobs, or stop
  std::condition_variable job_progress; // callers wait: events or done
  std::map<SessionId, std::shared_ptr<Session>> sessions;  // mu
  SessionId next_session = 1;                              // mu
  std::deque<std::shared_ptr<Job>> submitted;              // mu
  std::unique_ptr<SnapshotStore> store;                    // mu; null when the cache is off
  EngineStats counters;                                    // mu (cache fields filled by stats())
  bool stopping = false;                                   // mu

  std::vector<std::shared_ptr<Job>> active;  // engine thread only
  StepPlanner planner{StepBudget{}};          // engine thread only
  std::thread engine_thread;

  // engine_steps.cpp
  static constexpr size_t kMaxUnreadEvents = 256;
  bool paused(const Job & job) const;
  bool any_runnable() const;
  void run_engine_thread();
  void start_job(Job & job);
  void run_step();
  std::vector<StepSlice> plan_step();
  void advance_job(Job & job, const SequenceModel::Item & item, StepResults & results);
  void collect_cancellations(StepResults & results);
  void publish(StepResults & results);
  void finish_job(Job & job, Status status);
  void take_snapshot(Session & session);

  // engine.cpp
  Expected<std::shared_ptr<Session>> idle_session(SessionId id, const char * what) const;
  std::shared_ptr<Job> submit(std::shared_ptr<Session> session, Job::Kind kind);
};

}  // namespace m1
