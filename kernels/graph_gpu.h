// CUDA graphs in a form that compiles without CUDA: the launches a function makes on the calling
// thread's default stream (every kernels/ launcher given a null Stream) are captured once and
// replayed with one call, which removes the per-launch host cost of a decode step. The kernels
// library runs null-stream work on the per-thread default stream, which can be captured (the
// legacy default stream cannot).
#pragma once

#include <functional>

#include "common/status.h"

namespace m1::kernels::gpu {

class Graph {
public:
  Graph() = default;
  ~Graph();
  Graph(Graph && other) noexcept;
  Graph & operator=(Graph && other) noexcept;
  Graph(const Graph &) = delete;
  Graph & operator=(const Graph &) = delete;

  // Captures what record() launches on this thread's default stream; nothing runs. An error (from
  // record or from the capture, e.g. a launch that cannot be captured) leaves no graph behind.
  static Expected<Graph> capture(const std::function<Status()> & record);
  // Replays the captured launches on this thread's default stream (asynchronous).
  Status launch() const;
  bool valid() const { return exec_ != nullptr; }

private:
  void * exec_ = nullptr;  // cudaGraphExec_t
};

}  // namespace m1::kernels::gpu
