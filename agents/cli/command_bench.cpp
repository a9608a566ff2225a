// `m1 bench ...`: engine / kernel / sandbox benchmarks, one subcommand each under the `bench`
// parent. Here: `m1 bench sessions`, the state cache's benchmark (BENCHMARKS.md, "Sessions").
//
// `m1 bench sessions --model DIR --turns N --tokens-per-turn T [--no-cache] [--json]` drives one
// session through N turns: each appends T new random tokens and generates a few (greedy), and
// one line per turn reports the history before the turn, the tokens computed this turn, the
// context tokens that were not recomputed, and the turn's wall time. With --no-cache every turn
// starts a fresh session and re-prefills the whole history (what engines without state caching
// do for hybrid models).
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agents/cli/command.h"
#include "runtime/engine.h"

namespace m1::cli {

namespace {

struct SessionsBenchArgs {
  std::string model;
  int turns = 10;
  int tokens_per_turn = 300;
  int generate = 4;
  int threads = 0;
  unsigned seed = 1;
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

// One turn on `session`: append the new tokens (and, without the cache, the whole history to a
// fresh session first), then generate.
Expected<TurnResult> run_turn(Engine & engine, SessionId & session, const SessionsBenchArgs & args,
                              std::vector<Token> & history, const std::vector<Token> & new_tokens) {
  TurnResult r;
  r.history = history.size();
  const EngineStats before = engine.stats();
  const auto start = std::chrono::steady_clock::now();
  std::vector<Token> to_append = new_tokens;
  if (args.no_cache) {
    M1_RETURN_IF_ERROR(engine.close_session(session));
    session = engine.create_session();
    to_append.insert(to_append.begin(), history.begin(), history.end());
  }
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

int run_sessions_bench(const SessionsBenchArgs & args) {
  if (args.turns < 1 || args.tokens_per_turn < 1 || args.generate < 1)
    return fail("bench sessions", "--turns, --tokens-per-turn and --generate must be >= 1");
  EngineOptions options;
  options.model_dir = args.model;
  options.threads = args.threads;
  options.state_cache = !args.no_cache;
  Expected<std::unique_ptr<Engine>> engine = Engine::open(options);
  if (!engine) return fail("bench sessions", engine.status());
  std::mt19937 gen(args.seed);
  SessionId session = (*engine)->create_session();
  std::vector<Token> history;
  for (int turn = 1; turn <= args.turns; ++turn) {
    const std::vector<Token> new_tokens = random_turn((*engine)->generable_ids(), size_t(args.tokens_per_turn), gen);
    Expected<TurnResult> r = run_turn(**engine, session, args, history, new_tokens);
    if (!r) return fail("bench sessions", r.status().with_context("turn " + std::to_string(turn)));
    if (args.json)
      std::printf("{\"turn\": %d, \"history\": %zu, \"prefilled\": %zu, \"reused\": %zu, \"ms\": %.3f}\n", turn,
                  r->history, r->prefilled, r->reused, r->ms);
    else
      std::printf("turn %4d  history %7zu  prefilled %7zu  reused %7zu  %10.1f ms\n", turn, r->history,
                  r->prefilled, r->reused, r->ms);
    std::fflush(stdout);
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
  sub->add_option("--seed", args->seed, "seed of the random tokens")->capture_default_str();
  sub->add_flag("--no-cache", args->no_cache, "re-prefill the whole history every turn");
  sub->add_flag("--json", args->json, "one JSON object per turn");
  commands.push_back({sub, [args] { return run_sessions_bench(*args); }});
}

}  // namespace

void add_bench_command(CLI::App & app, CommandList & commands) {
  CLI::App * bench = app.add_subcommand("bench", "engine / kernel / sandbox benchmarks");
  bench->require_subcommand(1);
  add_bench_sessions(*bench, commands);
}

}  // namespace m1::cli
