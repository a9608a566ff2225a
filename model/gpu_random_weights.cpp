// random_gpu_weights (model/gpu_weights.h): every buffer load_gpu_weights would fill, filled on
// the device from a seed instead of from a checkpoint.
#include <cmath>
#include <vector>

#include "kernels/tensor_ops_gpu.h"
#include "model/gpu_weights.h"

namespace m1 {

namespace gpu = kernels::gpu;

namespace {

class RandomFiller {
public:
  RandomFiller(int device, uint64_t seed) : device_(device), seed_(seed * 1000003u) {}

  Status fill(kernels::DeviceBuffer & buffer, int64_t n, bool f32, float lo, float hi) {
    auto made = kernels::DeviceBuffer::allocate(device_, size_t(n) * (f32 ? 4 : 2));
    if (!made) return made.status().with_context("random gpu weights");
    buffer = std::move(made).value();
    bytes_ += n * (f32 ? 4 : 2);
    return gpu::fill_uniform(buffer.data(), n, f32, ++seed_, lo, hi, nullptr);
  }
  // [rows, cols] with std scale / sqrt(cols): uniform in +-scale * sqrt(3 / cols).
  Status matrix(kernels::DeviceBuffer & buffer, int64_t rows, int64_t cols, bool f32 = false, double scale = 1.0) {
    const float a = float(scale * std::sqrt(3.0 / double(cols)));
    return fill(buffer, rows * cols, f32, -a, a);
  }
  Status norm(kernels::DeviceBuffer & buffer, int64_t n) { return fill(buffer, n, false, 0.8f, 1.2f); }
  int64_t bytes() const { return bytes_; }

private:
  int device_;
  uint64_t seed_;
  int64_t bytes_ = 0;
};

}  // namespace

Expected<GpuWeights> random_gpu_weights(const ModelConfig & c, int device, std::uint64_t seed) {
  auto geometry = gpu_geometry(c);
  if (!geometry) return geometry.status();
  if (geometry->padded())
    return Status::error("random gpu weights: the config needs padded heads; only head dim 128 with 8 query heads "
                         "per KV head is supported");
  const GpuGeometry & g = *geometry;
  const int64_t D = c.hidden_size, V = c.vocab_size, H = g.heads, Hd = H * 128, Hs = g.softmax_heads;
  const int64_t kv = int64_t(g.kv_heads) * 128, E = c.n_experts, F = c.expert_ffn;
  RandomFiller r(device, seed);
  GpuWeights w;
  w.geometry = g;
  M1_RETURN_IF_ERROR(r.fill(w.embed, V * D, false, -1.7f, 1.7f));  // std 1, as the checkpoint's embedding
  M1_RETURN_IF_ERROR(r.norm(w.final_norm, D));
  M1_RETURN_IF_ERROR(r.matrix(w.lm_head, V, D, true));
  w.layers.resize(size_t(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    GpuLayerWeights & layer = w.layers[size_t(l)];
    layer.kind = c.layer_kinds[size_t(l)];
    M1_RETURN_IF_ERROR(r.norm(layer.input_norm, D));
    M1_RETURN_IF_ERROR(r.norm(layer.post_attention_norm, D));
    if (layer.kind == LayerKind::lightning) {
      M1_RETURN_IF_ERROR(r.matrix(layer.qkv, H * 384 + Hd, D));  // q, k, v, then the output gate
      M1_RETURN_IF_ERROR(r.norm(layer.out_norm, Hd));
      M1_RETURN_IF_ERROR(r.matrix(layer.out_proj, D, Hd));
      std::vector<float> decay(static_cast<size_t>(H));
      for (int h = 0; h < H; ++h) decay[size_t(h)] = float(c.lightning_slope(l, h));
      auto buffer = kernels::DeviceBuffer::allocate(device, decay.size() * 4);
      if (!buffer) return buffer.status().with_context("random gpu weights");
      layer.decay = std::move(buffer).value();
      M1_RETURN_IF_ERROR(gpu::copy_to_device(layer.decay.data(), decay.data(), decay.size() * 4));
    } else {
      M1_RETURN_IF_ERROR(r.matrix(layer.qkv, Hs * 128 + 2 * kv, D));  // q, k, v
      M1_RETURN_IF_ERROR(r.matrix(layer.o_proj, D, Hs * 128));
    }
    M1_RETURN_IF_ERROR(r.matrix(layer.router, E, D, true, 2.0));
    M1_RETURN_IF_ERROR(r.matrix(layer.gate_up, E * 2 * F, D));
    M1_RETURN_IF_ERROR(r.matrix(layer.down, E * D, F));
  }
  M1_RETURN_IF_ERROR(gpu::synchronize(nullptr));
  w.device_bytes = r.bytes();
  return w;
}

}  // namespace m1
