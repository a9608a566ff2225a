// What every layer of the CPU forward sees: the batch's rows (tokens of several sequences,
// concatenated), which rows belong to which sequence and its memory, and the thread pool.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/thread_pool.h"
#include "model/config.h"
#include "model/sequence_memory.h"

namespace m1 {

// Rows [row_begin, row_begin + n_rows) of the batch activations are the new tokens of one
// sequence; the first of them sits at absolute position `position` (= memory->n_tokens()).
struct SequenceRows {
  int row_begin = 0;
  int n_rows = 0;
  int64_t position = 0;
  SequenceMemory * memory = nullptr;
};

struct LayerContext {
  const ModelConfig & config;
  int layer;
  std::span<const SequenceRows> sequences;
  int n_rows;                      // all rows of the batch
  int lightning_block;             // block size of the block-wise lightning prefill
  kernels::cpu::ThreadPool & pool;
};

}  // namespace m1
