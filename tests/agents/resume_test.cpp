// Durable sessions: resume after a real kill -9 in the middle of a turn restores every committed
// event and goes on; a fork at any event starts from exactly that prefix and then diverges.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agents/agent_loop.h"
#include "agents/agent_session.h"
#include "agents/scripted_model.h"
#include "tests/agents/fake_tools.h"
#include "tests/agents/temp_dir.h"

namespace m1::agents {
namespace {

using test::call_output;
using test::FakeTools;

SessionSetup setup_for(const std::string & task) {
  SessionSetup setup;
  setup.system_prompt = "You are a test agent.";
  setup.task = task;
  setup.model = "script:test";
  setup.workspace = "/tmp";
  return setup;
}

// Tells the parent, through a pipe, the seq of every event as soon as it is committed.
struct ReportCommits : LoopObserver {
  int fd = -1;
  void on_event(const Event & event) override {
    if (write(fd, &event.seq, sizeof event.seq) != sizeof event.seq) _exit(7);
  }
};

TEST(ResumeAfterCrash, KillDashNineMidTurnKeepsEveryCommittedEventAndResumes) {
  test::TempDir dir;
  std::string path = dir.file("s.db");
  std::string id;
  {
    auto store = SessionStore::open(path);
    ASSERT_TRUE(store.ok());
    FakeTools tools;
    auto session = AgentSession::start(store->get(), setup_for("Echo, then run slow."), tools.prompt_tools());
    ASSERT_TRUE(session.ok()) << session.status().message();
    id = (*session)->id();
  }
  int commits[2], started[2];
  ASSERT_EQ(pipe(commits), 0);
  ASSERT_EQ(pipe(started), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the agent process that will be killed while "slow" runs
    close(commits[0]);
    close(started[0]);
    auto store = SessionStore::open(path);
    if (!store.ok()) _exit(3);
    FakeTools tools;
    tools.on_slow_start = [&] {
      char byte = 1;
      if (write(started[1], &byte, 1) != 1) _exit(4);
    };
    auto session = AgentSession::resume(**store, id, tools.prompt_tools());
    if (!session.ok()) _exit(5);
    ReportCommits report;
    report.fd = commits[1];
    (*session)->log().add_observer(&report);
    ScriptedModel model({call_output("echo", {{"text", "first"}}), call_output("slow", Json::object()), "unreached"},
                        "script:crash");
    AgentLoop loop(model, tools, (*session)->log());
    loop.run((*session)->conversation());
    _exit(6);  // the parent kills us before slow ends
  }
  close(commits[1]);
  close(started[1]);
  char byte = 0;
  ASSERT_EQ(read(started[0], &byte, 1), 1);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  std::vector<int64_t> committed;
  int64_t seq = 0;
  while (read(commits[0], &seq, sizeof seq) == sizeof seq) committed.push_back(seq);
  close(commits[0]);
  close(started[0]);

  auto store = SessionStore::open(path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->integrity_check(), "ok");
  auto events = (*store)->events(id);
  ASSERT_TRUE(events.ok());
  // system, user; usage, message(echo), tool_call, tool_result; usage, message(slow), tool_call
  std::vector<std::string> kinds;
  for (const Event & e : *events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"message", "message", "usage", "message", "tool_call", "tool_result",
                                             "usage", "message", "tool_call"}));
  for (int64_t s : committed) EXPECT_LE(s, int64_t(events->size())) << "committed event " << s << " missing";
  EXPECT_EQ(committed.size(), 7u);  // the two initial messages were written before the child ran

  // Resume: the cut-off call comes back as interrupted, and the model goes on from there.
  FakeTools tools;
  auto session = AgentSession::resume(**store, id, tools.prompt_tools());
  ASSERT_TRUE(session.ok()) << session.status().message();
  EXPECT_EQ((*session)->previous_turns(), 2);
  std::string seen_result;
  ScriptedModel model([&](const Conversation & c) -> Expected<std::string> {
    seen_result = c.messages().back().results.at(0).text;
    return std::string("Resumed and done.");
  }, "script:after");
  AgentLoop loop(model, tools, (*session)->log());
  LoopResult result = loop.run((*session)->conversation());
  EXPECT_EQ(result.reason, StopReason::answered) << result.detail;
  EXPECT_NE(seen_result.find("interrupted: the session stopped while this call ran"), std::string::npos) << seen_result;
  auto after = (*store)->events(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)[9].kind, "tool_result");  // the interrupted outcome, recorded at resume
  EXPECT_EQ((*after)[9].payload["cancelled"], true);
  EXPECT_EQ(after->back().kind, "stop");
  EXPECT_EQ((*store)->session(id)->status, "answered");
}

TEST(Fork, StartsFromThePrefixAndDiverges) {
  test::TempDir dir;
  auto store = SessionStore::open(dir.file("s.db"));
  ASSERT_TRUE(store.ok());
  FakeTools tools;
  auto parent = AgentSession::start(store->get(), setup_for("Echo twice."), tools.prompt_tools());
  ASSERT_TRUE(parent.ok());
  {
    ScriptedModel model({call_output("echo", {{"text", "one"}}), call_output("echo", {{"text", "two"}}), "parent done"},
                        "script:parent");
    AgentLoop loop(model, tools, (*parent)->log());
    ASSERT_EQ(loop.run((*parent)->conversation()).reason, StopReason::answered);
  }
  auto parent_events = (*store)->events((*parent)->id());
  // Fork right after the first tool result (event 6): the child has seen "one" only.
  ASSERT_EQ((*parent_events)[5].kind, "tool_result");
  auto child = AgentSession::fork(**store, (*parent)->id(), 6, tools.prompt_tools());
  ASSERT_TRUE(child.ok()) << child.status().message();
  const auto & m = (*child)->conversation().messages();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[3].results.at(0).text, "one");
  ScriptedModel model({call_output("echo", {{"text", "other"}}), "child done"}, "script:child");
  AgentLoop loop(model, tools, (*child)->log());
  LoopResult result = loop.run((*child)->conversation());
  ASSERT_EQ(result.reason, StopReason::answered);
  EXPECT_EQ(result.answer, "child done");

  auto child_events = (*store)->events((*child)->id());
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*child_events)[i].payload, (*parent_events)[i].payload) << i;
  EXPECT_NE((*child_events)[8].payload, (*parent_events)[8].payload);  // the tool_call differs
  EXPECT_EQ((*child_events)[8].payload["arguments"]["text"], "other");
  auto parent_after = (*store)->events((*parent)->id());
  EXPECT_EQ(parent_after->size(), parent_events->size());  // the parent is untouched
  auto replayed = AgentSession::resume(**store, (*child)->id(), tools.prompt_tools());
  ASSERT_TRUE(replayed.ok());
  EXPECT_TRUE((*replayed)->answered());
  EXPECT_EQ((*replayed)->conversation().messages().back().text, "child done");
}

}  // namespace
}  // namespace m1::agents
