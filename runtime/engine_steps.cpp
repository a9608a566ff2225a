// The engine thread: takes submitted calls, starts each from the longest cached snapshot, and
// runs steps that batch every active session's work (StepPlanner) through one model forward.
#include <algorithm>

#include "runtime/engine_impl.h"

namespace m1 {

void Engine::Impl::run_engine_thread() {
  while (true) {
    std::vector<std::shared_ptr<Job>> fresh;
    {
      std::unique_lock lock(mu);
      work_ready.wait(lock, [&] { return stopping || !submitted.empty() || any_runnable(); });
      fresh.assign(submitted.begin(), submitted.end());
      submitted.clear();
      if (stopping) {
        lock.unlock();
        active.insert(active.end(), fresh.begin(), fresh.end());
        for (const std::shared_ptr<Job> & job : active)
          finish_job(*job, Status::error("engine: closed while the call was running"));
        active.clear();
        return;
      }
    }
    for (const std::shared_ptr<Job> & job : fresh) {
      start_job(*job);
      if (!job->finished) active.push_back(job);
    }
    if (!active.empty()) run_step();
  }
}

// The last token always waits for the next call (generation needs its logits), so the memory
// of a session of n tokens covers at most n - 1.
static size_t computable(const Session & s) { return s.tokens.empty() ? 0 : s.tokens.size() - 1; }

// Under mu. A generating session whose caller has not read kMaxUnreadEvents events yet pauses
// (its callback is slow): the others go on, and memory stays bounded.
bool Engine::Impl::paused(const Job & job) const {
  return job.events.size() >= kMaxUnreadEvents && !job.session->cancel_requested.load();
}

bool Engine::Impl::any_runnable() const {
  return std::any_of(active.begin(), active.end(), [&](const std::shared_ptr<Job> & j) { return !paused(*j); });
}

void Engine::Impl::start_job(Job & job) {
  Session & s = *job.session;
  const size_t before = s.state->n_tokens();
  if (store && computable(s) > before) {
    std::lock_guard lock(mu);
    std::optional<SnapshotStore::Hit> hit =
        store->longest_prefix(std::span<const Token>(s.tokens.data(), computable(s)), before);
    if (hit) {
      // Every state the engine stores is a SequenceState (take_snapshot, the decoder).
      s.state = static_cast<const SequenceState &>(*hit->state).fork();
      counters.tokens_reused += hit->n_tokens - before;
    }
  }
  job.prompt_left = s.tokens.size() - s.state->n_tokens();
  if (job.kind == Job::Kind::append && s.state->n_tokens() == computable(s)) {
    take_snapshot(s);
    finish_job(job, Status());
  } else if (job.kind == Job::Kind::generate && job.generation->finished()) {
    finish_job(job, Status());
  }
}

void Engine::Impl::run_step() {
  std::vector<PendingWork> work;
  std::vector<bool> is_paused;
  {
    std::lock_guard lock(mu);
    for (const std::shared_ptr<Job> & job : active) is_paused.push_back(paused(*job));
  }
  for (size_t i = 0; i < active.size(); ++i) {
    if (is_paused[i]) continue;
    const std::shared_ptr<Job> & job = active[i];
    const Session & s = *job->session;
    const size_t pending = s.tokens.size() - s.state->n_tokens();
    const size_t n = job->kind == Job::Kind::append ? computable(s) - s.state->n_tokens() : pending;
    work.push_back({s.id, n, job->kind == Job::Kind::generate && pending == 1});
  }
  const std::vector<StepSlice> slices = planner.plan(work);

  std::vector<SequenceModel::Item> items;
  std::vector<Job *> item_jobs;
  for (const StepSlice & slice : slices) {
    Job & job = **std::find_if(active.begin(), active.end(),
                               [&](const std::shared_ptr<Job> & j) { return j->session->id == slice.session; });
    Session & s = *job.session;
    const size_t pending = s.tokens.size() - s.state->n_tokens();
    SequenceModel::Item item;
    item.state = s.state.get();
    item.tokens = std::span<const Token>(s.tokens.data() + s.state->n_tokens(), slice.n_tokens);
    item.want_logits = job.kind == Job::Kind::generate && slice.n_tokens == pending;
    item.logits = &job.logits;
    items.push_back(item);
    item_jobs.push_back(&job);
  }
  const Status forward = items.empty() ? Status() : model->forward(items);

  // Counters and events are published before any job of this step is finished, so a caller
  // that sees its call done also sees what the call did.
  std::vector<std::pair<Job *, TokenEvent>> events;
  std::vector<std::pair<Job *, Status>> finishing;
  size_t n_computed = 0, n_prefilled = 0, n_generated = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    Job & job = *item_jobs[i];
    if (!forward.ok()) {
      finishing.emplace_back(&job, forward.with_context("model forward"));
      continue;
    }
    n_computed += items[i].tokens.size();
    const size_t prompt = std::min(job.prompt_left, items[i].tokens.size());
    job.prompt_left -= prompt;
    n_prefilled += prompt;
    Session & s = *job.session;
    if (job.kind == Job::Kind::append) {
      if (s.state->n_tokens() == computable(s)) {
        take_snapshot(s);
        finishing.emplace_back(&job, Status());
      }
      continue;
    }
    if (!items[i].want_logits) continue;
    TokenEvent event = job.generation->step(job.logits);
    s.tokens.push_back(event.token);  // computed by the next step, or by the next call
    ++n_generated;
    events.emplace_back(&job, std::move(event));
    if (job.generation->finished()) {
      if (std::optional<TokenEvent> last = job.generation->final_event()) events.emplace_back(&job, std::move(*last));
      finishing.emplace_back(&job, Status());
    }
  }
  for (const std::shared_ptr<Job> & job : active) {
    if (job->finished || !job->session->cancel_requested.load()) continue;
    if (std::any_of(finishing.begin(), finishing.end(), [&](const auto & f) { return f.first == job.get(); })) continue;
    if (job->kind == Job::Kind::generate) {
      job->generation->cancel();
      finishing.emplace_back(job.get(), Status());
    } else {
      finishing.emplace_back(job.get(), Status::error("append: cancelled (the tokens not yet computed stay in the session)"));
    }
  }
  {
    std::lock_guard lock(mu);
    counters.tokens_computed += n_computed;
    counters.tokens_prefilled += n_prefilled;
    counters.tokens_generated += n_generated;
    counters.steps += items.empty() ? 0 : 1;
    counters.max_step_sequences = std::max<std::uint64_t>(counters.max_step_sequences, items.size());
    for (auto & [job, event] : events) job->events.push_back(std::move(event));
  }
  job_progress.notify_all();
  for (auto & [job, status] : finishing) finish_job(*job, std::move(status));
  std::erase_if(active, [](const std::shared_ptr<Job> & job) { return job->finished; });
}

void Engine::Impl::finish_job(Job & job, Status status) {
  {
    std::lock_guard lock(mu);
    job.status = std::move(status);
    job.done = true;
    job.session->busy = false;
    job.session->cancel_requested = false;
  }
  job.finished = true;
  job_progress.notify_all();
}

// A snapshot at the session's current position (end of an append: a turn boundary, or the end of
// the system prompt when that was the first append).
void Engine::Impl::take_snapshot(Session & s) {
  if (!store || s.state->n_tokens() == 0) return;
  std::shared_ptr<const CachedState> copy = s.state->fork();
  std::lock_guard lock(mu);
  (void)store->put(std::span<const Token>(s.tokens.data(), s.state->n_tokens()), std::move(copy));
}

}  // namespace m1
