// Stop strings split across deltas at every possible point: the shown text must equal the text
// before the first stop string, computed directly on the whole string.
#include "runtime/stop_strings.h"

#include <gtest/gtest.h>

namespace m1 {
namespace {

struct StopRun {
  std::string shown;
  bool stopped = false;
  std::string matched;
};

StopRun feed_in_pieces(const std::vector<std::string> & stops, const std::vector<std::string> & pieces) {
  StopStringMatcher m(stops);
  StopRun r;
  for (const std::string & piece : pieces) {
    StopStringMatcher::Output o = m.feed(piece);
    r.shown += o.text;
    if (o.stopped) {
      r.stopped = true;
      r.matched = o.matched;
    }
  }
  if (!r.stopped) r.shown += m.flush();
  return r;
}

// The oracle: the earliest occurrence of any stop string in the whole text.
StopRun direct(const std::vector<std::string> & stops, const std::string & text) {
  size_t first = std::string::npos;
  StopRun r;
  for (const std::string & s : stops) {
    size_t at = text.find(s);
    if (at != std::string::npos && (at < first || (at == first && s.size() > r.matched.size()))) {
      first = at;
      r.matched = s;
    }
  }
  r.stopped = first != std::string::npos;
  r.shown = text.substr(0, first);
  return r;
}

TEST(StopStrings, EverySplitOfTheTextGivesTheDirectResult) {
  const std::vector<std::string> stops = {"</tool_calls>", "\n\nUser:", "ab"};
  const std::vector<std::string> texts = {
      "hello </tool_ no </tool_calls> after", "x\n\nUse\n\nUser: y", "aaab", "a</tool_callsab",
      "no stop here </tool_call", "\n\n"};
  for (const std::string & text : texts)
    for (size_t cut1 = 0; cut1 <= text.size(); ++cut1)
      for (size_t cut2 = cut1; cut2 <= text.size(); ++cut2) {
        const StopRun got = feed_in_pieces(stops, {text.substr(0, cut1), text.substr(cut1, cut2 - cut1), text.substr(cut2)});
        const StopRun want = direct(stops, text);
        ASSERT_EQ(got.shown, want.shown) << text << " cut " << cut1 << "," << cut2;
        ASSERT_EQ(got.stopped, want.stopped);
        ASSERT_EQ(got.matched, want.matched);
      }
}

TEST(StopStrings, HoldsBackOnlyWhatCouldStillBecomeAStop) {
  StopStringMatcher m({"STOP"});
  EXPECT_EQ(m.feed("abc ST").text, "abc ");  // "ST" may start STOP
  EXPECT_EQ(m.feed("x").text, "STx");       // it did not
  EXPECT_EQ(m.feed("S").text, "");
  StopStringMatcher::Output o = m.feed("TOP tail");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.text, "");
  EXPECT_EQ(m.feed("more").text, "");  // nothing after a stop
}

TEST(StopStrings, NoStopStringsPassesTextThrough) {
  StopStringMatcher m({"", ""});
  EXPECT_EQ(m.feed("anything").text, "anything");
  EXPECT_EQ(m.flush(), "");
}

}  // namespace
}  // namespace m1
