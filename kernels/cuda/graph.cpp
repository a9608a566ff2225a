// Graph (kernels/graph_gpu.h) on the CUDA runtime: thread-local capture of the per-thread default
// stream, so a capture in one thread does not disturb another thread's work.
#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/check.h"
#include "kernels/graph_gpu.h"

namespace m1::kernels::gpu {

Graph::~Graph() {
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
}

Graph::Graph(Graph && other) noexcept : exec_(std::exchange(other.exec_, nullptr)) {}

Graph & Graph::operator=(Graph && other) noexcept {
  if (this != &other) {
    if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
    exec_ = std::exchange(other.exec_, nullptr);
  }
  return *this;
}

Expected<Graph> Graph::capture(const std::function<Status()> & record) {
  M1_CUDA_STATUS(cudaStreamBeginCapture(cudaStreamPerThread, cudaStreamCaptureModeThreadLocal));
  const Status recorded = record();
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(cudaStreamPerThread, &graph);
  if (!recorded.ok()) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    return recorded.with_context("graph capture");
  }
  if (ended != cudaSuccess) {
    cudaGetLastError();
    return Status::error(std::string("graph capture: ") + cudaGetErrorString(ended));
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (made != cudaSuccess) {
    cudaGetLastError();
    return Status::error(std::string("graph instantiate: ") + cudaGetErrorString(made));
  }
  Graph g;
  g.exec_ = exec;
  return g;
}

Status Graph::launch() const {
  if (!exec_) return Status::error("graph launch: no graph was captured");
  M1_CUDA_STATUS(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), cudaStreamPerThread));
  return {};
}

}  // namespace m1::kernels::gpu
