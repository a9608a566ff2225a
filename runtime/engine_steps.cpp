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
      // Every state the engine stores is a SequenceState (take_snapshot, the decoder). A snapshot
      // that cannot be copied (a device error) is not reused: the session computes its tokens.
      Expected<std::unique_ptr<SequenceState>> reused = static_cast<const SequenceState &>(*hit->state).fork();
      if (reused) {
        s.state = std::move(*reused);
        counters.tokens_reused += hit->n_tokens - before;
      }
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

// What each active call needs computed (paused ones sit this step out), cut to the step budget.
std::vector<StepSlice> Engine::Impl::plan_step() {
  std::vector<bool> is_paused;
  {
    std::lock_guard lock(mu);
    for (const std::shared_ptr<Job> & job : active) is_paused.push_back(paused(*job));
  }
  std::vector<PendingWork> work;
  for (size_t i = 0; i < active.size(); ++i) {
    if (is_paused[i]) continue;
    const Job & job = *active[i];
    const Session & s = *job.session;
    const size_t pending = s.tokens.size() - s.state->n_tokens();
    const size_t n = job.kind == Job::Kind::append ? computable(s) - s.state->n_tokens() : pending;
    work.push_back({s.id, n, job.kind == Job::Kind::generate && pending == 1});
  }
  return planner.plan(work);
}

void Engine::Impl::run_step() {
  StepResults results;
  for (const StepSlice & slice : plan_step()) {
    Job & job = **std::find_if(active.begin(), active.end(),
                               [&](const std::shared_ptr<Job> & j) { return j->session->id == slice.session; });
    Session & s = *job.session;
    const size_t pending = s.tokens.size() - s.state->n_tokens();
    SequenceModel::Item item;
    item.state = s.state.get();
    item.tokens = std::span<const Token>(s.tokens.data() + s.state->n_tokens(), slice.n_tokens);
    item.want_logits = job.kind == Job::Kind::generate && slice.n_tokens == pending;
    item.logits = &job.logits;
    if (item.want_logits && model->samples_next_token() && !job.generation->next_is_forced()) {
      const Generation::Draw draw = job.generation->next_draw();
      job.sample = {draw.params, draw.uniform, draw.n_top, {}};
      item.sample = &job.sample;
    }
    results.items.push_back(item);
    results.jobs.push_back(&job);
  }
  const Status forward = results.items.empty() ? Status() : model->forward(results.items);
  for (size_t i = 0; i < results.items.size(); ++i) {
    if (forward.ok()) {
      advance_job(*results.jobs[i], results.items[i], results);
    } else {
      results.finishing.emplace_back(results.jobs[i], forward.with_context("model forward"));
    }
  }
  collect_cancellations(results);
  publish(results);
}

// After the forward: counts, the snapshot at the end of an append, or the next token of a
// generation (which joins the session, to be computed by the next step or the next call).
void Engine::Impl::advance_job(Job & job, const SequenceModel::Item & item, StepResults & results) {
  results.n_computed += item.tokens.size();
  const size_t prompt = std::min(job.prompt_left, item.tokens.size());
  job.prompt_left -= prompt;
  results.n_prefilled += prompt;
  Session & s = *job.session;
  if (job.kind == Job::Kind::append) {
    if (s.state->n_tokens() == computable(s)) {
      take_snapshot(s);
      results.finishing.emplace_back(&job, Status());
    }
    return;
  }
  if (!item.want_logits) return;
  TokenEvent event = item.sample ? job.generation->accept(std::move(item.sample->result)) : job.generation->step(job.logits);
  s.tokens.push_back(event.token);
  ++results.n_generated;
  results.events.emplace_back(&job, std::move(event));
  if (job.generation->finished()) {
    if (std::optional<TokenEvent> last = job.generation->final_event()) results.events.emplace_back(&job, std::move(*last));
    results.finishing.emplace_back(&job, Status());
  }
}

void Engine::Impl::collect_cancellations(StepResults & results) {
  for (const std::shared_ptr<Job> & job : active) {
    if (job->finished || !job->session->cancel_requested.load()) continue;
    if (std::any_of(results.finishing.begin(), results.finishing.end(),
                    [&](const auto & f) { return f.first == job.get(); }))
      continue;
    if (job->kind == Job::Kind::generate) {
      job->generation->cancel();
      results.finishing.emplace_back(job.get(), Status());
    } else {
      results.finishing.emplace_back(job.get(),
                                     Status::error("append: cancelled (the tokens not yet computed stay in the session)"));
    }
  }
}

// Counters and events go out before any call of this step is finished, so a caller that sees its
// call done also sees what the call did.
void Engine::Impl::publish(StepResults & results) {
  {
    std::lock_guard lock(mu);
    counters.tokens_computed += results.n_computed;
    counters.tokens_prefilled += results.n_prefilled;
    counters.tokens_generated += results.n_generated;
    counters.steps += results.items.empty() ? 0 : 1;
    counters.max_step_sequences = std::max<std::uint64_t>(counters.max_step_sequences, results.items.size());
    for (auto & [job, event] : results.events) job->events.push_back(std::move(event));
  }
  job_progress.notify_all();
  for (auto & [job, status] : results.finishing) finish_job(*job, std::move(status));
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
  // A snapshot is a cache entry: one that cannot be copied (a device error) is skipped.
  Expected<std::unique_ptr<SequenceState>> copy = s.state->fork();
  if (!copy) return;
  std::lock_guard lock(mu);
  (void)store->put(std::span<const Token>(s.tokens.data(), s.state->n_tokens()), std::shared_ptr<const CachedState>(std::move(*copy)));
}

}  // namespace m1
