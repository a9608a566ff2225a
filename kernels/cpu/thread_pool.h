// A fixed set of worker threads for the CPU forward's per-head and per-sequence loops. The caller
// of parallel_for works too, so a pool of n threads runs n - 1 workers. One parallel_for at a
// time: the pool belongs to one forward pass (the model's owner serializes calls).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace m1::kernels::cpu {

class ThreadPool {
public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool & operator=(const ThreadPool &) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Runs body(i) for i in [0, n) across the threads and returns when all are done.
  void parallel_for(int n, const std::function<void(int)> & body);

private:
  void work_loop();
  void run_items();

  std::vector<std::thread> workers_;
  // Guarded by mutex_: the current job and its progress.
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int)> * body_ = nullptr;
  int n_items_ = 0, next_item_ = 0, items_done_ = 0;
  unsigned generation_ = 0;
  bool stopping_ = false;
};

}  // namespace m1::kernels::cpu
