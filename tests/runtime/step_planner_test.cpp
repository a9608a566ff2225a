// The step planner simulated over many steps: budgets hold, decodes never wait behind a long
// prefill, and every prefill keeps progressing.
#include "runtime/step_planner.h"

#include <gtest/gtest.h>

#include <map>

namespace m1 {
namespace {

size_t total(const std::vector<StepSlice> & slices) {
  size_t n = 0;
  for (const StepSlice & s : slices) n += s.n_tokens;
  return n;
}

TEST(StepPlanner, DecodesRunEveryStepBesideALongPrefill) {
  StepPlanner planner({64, 16});
  std::vector<PendingWork> work = {{1, 100000, false}, {2, 1, true}, {3, 1, true}, {4, 1, true}};
  size_t prefilled = 0;
  for (int step = 0; step < 50; ++step) {
    const std::vector<StepSlice> plan = planner.plan(work);
    ASSERT_LE(total(plan), 64u);
    std::map<std::uint64_t, size_t> got;
    for (const StepSlice & s : plan) got[s.session] += s.n_tokens;
    EXPECT_EQ(got[2], 1u);
    EXPECT_EQ(got[3], 1u);
    EXPECT_EQ(got[4], 1u);
    EXPECT_EQ(got[1], 61u);  // the rest of the budget: a chunk of the long prefill
    prefilled += got[1];
    work[0].n_tokens -= got[1];
  }
  EXPECT_EQ(prefilled, 50u * 61u);
}

TEST(StepPlanner, PrefillsShareTheBudgetAndAllFinish) {
  StepPlanner planner({100, 8});
  std::vector<PendingWork> work = {{1, 5000, false}, {2, 30, false}, {3, 700, false}};
  std::map<std::uint64_t, int> finished_at;
  for (int step = 0; step < 200 && finished_at.size() < 3; ++step) {
    const std::vector<StepSlice> plan = planner.plan(work);
    ASSERT_LE(total(plan), 100u);
    for (const StepSlice & s : plan)
      for (PendingWork & w : work)
        if (w.session == s.session) {
          ASSERT_LE(s.n_tokens, w.n_tokens);
          w.n_tokens -= s.n_tokens;
          if (w.n_tokens == 0) finished_at[w.session] = step;
        }
    // No budget is left idle while work remains.
    size_t remaining = 0;
    for (const PendingWork & w : work) remaining += w.n_tokens;
    if (remaining > 0) {
      EXPECT_EQ(total(plan), 100u) << "step " << step;
    }
  }
  ASSERT_EQ(finished_at.size(), 3u);
  EXPECT_EQ(finished_at[2], 0);         // 30 tokens fit in the first step's even share
  EXPECT_LT(finished_at[3], 20);        // 700 tokens at >= 1/3 of 100 per step, then 1/2
  EXPECT_GT(finished_at[1], finished_at[3]);
}

TEST(StepPlanner, RotatesWhenNotEveryoneFits) {
  StepPlanner planner({4, 4});
  std::vector<PendingWork> work;
  for (std::uint64_t s = 1; s <= 10; ++s) work.push_back({s, 1, true});
  std::map<std::uint64_t, int> served;
  for (int step = 0; step < 10; ++step) {
    const std::vector<StepSlice> plan = planner.plan(work);
    EXPECT_EQ(plan.size(), 4u);
    for (const StepSlice & s : plan) ++served[s.session];
  }
  for (std::uint64_t s = 1; s <= 10; ++s) EXPECT_EQ(served[s], 4) << "session " << s;
}

TEST(StepPlanner, IgnoresIdleWork) {
  StepPlanner planner({16, 4});
  std::vector<PendingWork> work = {{1, 0, false}, {2, 0, true}};
  EXPECT_TRUE(planner.plan(work).empty());
}

}  // namespace
}  // namespace m1
