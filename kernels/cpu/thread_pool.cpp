#include "kernels/cpu/thread_pool.h"

namespace m1::kernels::cpu {

ThreadPool::ThreadPool(int n_threads) {
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { work_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread & t : workers_) t.join();
}

void ThreadPool::run_items() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (body_ && next_item_ < n_items_) {
    const int item = next_item_++;
    const std::function<void(int)> * body = body_;
    lock.unlock();
    (*body)(item);
    lock.lock();
    if (++items_done_ == n_items_) done_.notify_all();
  }
}

void ThreadPool::work_loop() {
  unsigned seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    run_items();
  }
}

void ThreadPool::parallel_for(int n, const std::function<void(int)> & body) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int i = 0; i < n; ++i) body(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    n_items_ = n;
    next_item_ = 0;
    items_done_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  run_items();
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return items_done_ == n_items_; });
  body_ = nullptr;
}

}  // namespace m1::kernels::cpu
