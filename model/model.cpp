// Opening a Model: config, checkpoint validation, fp32 weights, threads.
#include "model/model.h"

#include <filesystem>
#include <thread>

#include "kernels/cpu/gemm.h"

namespace m1 {

Expected<std::unique_ptr<Model>> Model::open(const std::string & folder, const ModelOptions & options) {
  auto config = load_model_config((std::filesystem::path(folder) / "config.json").string());
  if (!config) return config.status();
  auto checkpoint = Checkpoint::open(folder);
  if (!checkpoint) return checkpoint.status();
  auto weights = load_weights(*checkpoint, *config);
  if (!weights) return weights.status();
  return std::make_unique<Model>(std::move(config).value(), std::move(weights).value(), options);
}

Model::Model(ModelConfig config, ModelWeights weights, const ModelOptions & options)
    : config_(std::move(config)), weights_(std::move(weights)),
      lightning_block_(options.lightning_block > 0 ? options.lightning_block : config_.block_size) {
  set_threads(options.threads);
}

void Model::set_threads(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  pool_ = std::make_unique<kernels::cpu::ThreadPool>(threads);
  kernels::cpu::set_blas_threads(threads);
}

}  // namespace m1
