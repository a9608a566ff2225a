// `m1 bench ...`: engine / kernel / sandbox benchmarks, one subcommand each under the `bench`
// parent. Here: `m1 bench sessions`, the state cache's benchmark (BENCHMARKS.md, "Sessions").
//
// `m1 bench sessions --model DIR --turns N --tokens-per-turn T [--no-cache] [--json]
// [--device cpu|cuda|cuda:N]` drives one
// session through N turns: each appends T new random tokens and generates a few (greedy), and
// one line per turn reports the history before the turn, the tokens computed this turn, the
// context tokens that were not recomputed, and the turn's wall time. With --no-cache every turn
// starts a fresh session and re-prefills the whole history (what engines without state caching
// do for hybrid models). --measure-every K prints only turns 1, K, 2K, ...; with --no-cache the
// turns in between advance the history through a second, cached engine without being timed, so a
// long no-cache curve costs only its measured turns.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agents/cli/command.h"
#include "runtime/device_selection.h"
#include "runtime/engine.h"

namespace m1::cli {

void add_bench_model(CLI::App & bench, CommandList & commands);  // command_bench_model.cpp

namespace {

struct SessionsBenchArgs {
  std::string model;
  std::string device = "cpu";
  int turns = 10;
  int tokens_per_turn = 300;
  int generate = 4;
  int threads = 0;
  unsigned seed = 1;
  int measure_every = 1;
  bool no_cache = false;
  bool json = false;
};

// T random ids the tokenizer defines (all ids without a tokenizer).
std::vector<Token> random_turn(const TokenMask & allowed, size_t n, std::mt19937 & gen) {
  std::vector<Token> ids;
  for (size_t id = 0; id < allowed.size(); ++id)
    if (allowed[id]) ids.push_back(Token(id));
  std::vector<Token> out(n);
  for (Token & t : out) t = ids[gen() % ids.size()];
  return out;
}

struct TurnResult {
  size_t history = 0, prefilled = 0, reused = 0;
  double ms = 0;
};

// One turn: append the new tokens to `session` (after the part of `history` it has not seen; with
// `fresh`, to a new session holding none of it), then generate. `history` grows by the turn.
Expected<TurnResult> run_turn(Engine & engine, SessionId & session, bool fresh, const SessionsBenchArgs & args,
                              std::vector<Token> & history, const std::vector<Token> & new_tokens) {
  TurnResult r;
  r.history = history.size();
  const EngineStats before = engine.stats();
  const auto start = std::chrono::steady_clock::now();
  if (fresh) {
    M1_RETURN_IF_ERROR(engine.close_session(session));
    session = engine.create_session();
  }
  Expected<SessionInfo> info = engine.session_info(session);
  if (!info) return info.status();
  std::vector<Token> to_append(history.begin() + ptrdiff_t(info->n_tokens), history.end());
  to_append.insert(to_append.end(), new_tokens.begin(), new_tokens.end());
  M1_RETURN_IF_ERROR(engine.append(session, to_append));
  GenerateRequest request;
  request.max_tokens = args.generate;
  request.stop_at_eos = false;  // a fixed amount of work per turn
  Expected<GenerateResult> generated = engine.generate(session, request);
  if (!generated) return generated.status();
  const auto end = std::chrono::steady_clock::now();
  const EngineStats after = engine.stats();
  history.insert(history.end(), new_tokens.begin(), new_tokens.end());
  history.insert(history.end(), generated->tokens.begin(), generated->tokens.end());
  r.prefilled = after.tokens_computed - before.tokens_computed;
  // Context tokens before generation that this turn did not compute.
  r.reused = r.history + new_tokens.size() - (after.tokens_prefilled - before.tokens_prefilled);
  r.ms = std::chrono::duration<double, std::milli>(end - start).count();
  return r;
}

Expected<std::unique_ptr<Engine>> open_bench_engine(const SessionsBenchArgs & args, bool cache) {
  EngineOptions options;
  options.model_dir = args.model;
  options.threads = args.threads;
  options.state_cache = cache;
  Expected<std::vector<int>> devices = parse_device_list(args.device);
  if (!devices) return devices.status();
  options.devices = std::move(*devices);
  // Room on the GPU for the whole history twice over (the session and its snapshots share full
  // K/V pages; each snapshot copies one partly filled page).
  const int64_t history = int64_t(args.turns) * (args.tokens_per_turn + args.generate);
  options.gpu_cached_tokens = std::max<int64_t>(options.gpu_cached_tokens, 2 * history + 64 * args.turns);
  return Engine::open(options);
}

void print_turn(const SessionsBenchArgs & args, int turn, const TurnResult & r) {
  if (args.json)
    std::printf("{\"turn\": %d, \"history\": %zu, \"prefilled\": %zu, \"reused\": %zu, \"ms\": %.3f}\n", turn,
                r.history, r.prefilled, r.reused, r.ms);
  else
    std::printf("turn %4d  history %7zu  prefilled %7zu  reused %7zu  %10.1f ms\n", turn, r.history, r.prefilled,
                r.reused, r.ms);
  std::fflush(stdout);
}

int run_sessions_bench(const SessionsBenchArgs & args) {
  if (args.turns < 1 || args.tokens_per_turn < 1 || args.generate < 1 || args.measure_every < 1)
    return fail("bench sessions", "--turns, --tokens-per-turn, --generate and --measure-every must be >= 1");
  Expected<std::unique_ptr<Engine>> engine = open_bench_engine(args, !args.no_cache);
  if (!engine) return fail("bench sessions", engine.status());
  // Unmeasured no-cache turns only advance the history: a cached engine does that cheaply.
  std::unique_ptr<Engine> advance;
  if (args.no_cache && args.measure_every > 1) {
    Expected<std::unique_ptr<Engine>> cached = open_bench_engine(args, true);
    if (!cached) return fail("bench sessions", cached.status());
    advance = std::move(*cached);
  }
  SessionId session = (*engine)->create_session();
  SessionId advance_session = advance ? advance->create_session() : 0;
  std::mt19937 gen(args.seed);
  std::vector<Token> history;
  for (int turn = 1; turn <= args.turns; ++turn) {
    const std::vector<Token> new_tokens = random_turn((*engine)->generable_ids(), size_t(args.tokens_per_turn), gen);
    const bool measured = turn == 1 || turn % args.measure_every == 0;
    Expected<TurnResult> r = measured || !advance
                                 ? run_turn(**engine, session, args.no_cache, args, history, new_tokens)
                                 : run_turn(*advance, advance_session, false, args, history, new_tokens);
    if (!r) return fail("bench sessions", r.status().with_context("turn " + std::to_string(turn)));
    if (measured) print_turn(args, turn, *r);
  }
  return 0;
}

void add_bench_sessions(CLI::App & bench, CommandList & commands) {
  auto args = std::make_shared<SessionsBenchArgs>();
  CLI::App * sub = bench.add_subcommand("sessions", "multi-turn session: per-turn time with and without the state cache");
  sub->add_option("--model", args->model, "model folder (config.json + safetensors [+ tokenizer])")->required();
  sub->add_option("--turns", args->turns, "number of turns")->required();
  sub->add_option("--tokens-per-turn", args->tokens_per_turn, "new random tokens appended per turn")->required();
  sub->add_option("--generate", args->generate, "tokens generated per turn (greedy)")->capture_default_str();
  sub->add_option("--threads", args->threads, "CPU threads (0: all)")->capture_default_str();
  sub->add_option("--device", args->device, "cpu, cuda or cuda:N (the engine on that GPU)")->capture_default_str();
  sub->add_option("--seed", args->seed, "seed of the random tokens")->capture_default_str();
  sub->add_option("--measure-every", args->measure_every,
                  "print turns 1, K, 2K, ... only (with --no-cache the others advance untimed through a cache)")
      ->capture_default_str();
  sub->add_flag("--no-cache", args->no_cache, "re-prefill the whole history every turn");
  sub->add_flag("--json", args->json, "one JSON object per turn");
  commands.push_back({sub, [args] { return run_sessions_bench(*args); }});
}

}  // namespace

void add_bench_command(CLI::App & app, CommandList & commands) {
  CLI::App * bench = app.add_subcommand("bench", "engine / kernel / sandbox benchmarks");
  bench->require_subcommand(1);
  add_bench_sessions(*bench, commands);
  add_bench_model(*bench, commands);
}

}  // namespace m1::cli
