// Uploading a checkpoint to the GPU: each tensor is converted on the host to the device dtype
// (bf16, or fp32 for routers and LM head), laid out padded where the geometry asks, and copied.
// bf16 tensors that need no padding go straight from the mapped file to the device.
#include "model/gpu_weights.h"

#include <chrono>
#include <cstdio>
#include <functional>

#include "kernels/tensor_ops_gpu.h"
#include "model/dtype.h"
#include "model/weights.h"

namespace m1 {

namespace gpu = kernels::gpu;

int64_t GpuGeometry::softmax_row(int64_t r) const {
  const int64_t head = r / head_dim, dim = r % head_dim;
  return ((head / group) * 8 + head % group) * 128 + dim;
}

Expected<GpuGeometry> gpu_geometry(const ModelConfig & c) {
  auto fail = [&](const std::string & why) { return Status::error("config: cannot run on the GPU kernels: " + why); };
  if (c.head_dim > 128) return fail("head_dim " + std::to_string(c.head_dim) + " is above 128");
  if (c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0 || c.n_heads / c.n_kv_heads > 8)
    return fail("query heads " + std::to_string(c.n_heads) + " per KV head " + std::to_string(c.n_kv_heads) +
                " must be a whole group of at most 8");
  if (c.hidden_size % 8 || c.expert_ffn % 8 || (c.n_heads * c.head_dim) % 8)
    return fail("hidden_size, expert_ffn and n_heads*head_dim must be multiples of 8");
  if (c.rotary_dim > c.head_dim || c.rotary_dim % 2) return fail("rotary_dim must be even and at most head_dim");
  if (c.n_experts > 256 || c.n_experts_per_token > 8) return fail("at most 256 experts and top-8 routing");
  GpuGeometry g;
  g.head_dim = c.head_dim;
  g.heads = c.n_heads;
  g.kv_heads = c.n_kv_heads;
  g.group = c.n_heads / c.n_kv_heads;
  g.softmax_heads = 8 * c.n_kv_heads;
  return g;
}

namespace {

// Bytes read / total on stderr, redrawn at most every 100 ms; silent below 256 MiB.
class ProgressBar {
public:
  ProgressBar(int64_t total, bool enabled) : total_(total), enabled_(enabled && total >= (int64_t(256) << 20)) {}
  void add(int64_t bytes) {
    done_ += bytes;
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done_ < total_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const int width = 40, filled = int(width * done_ / std::max<int64_t>(total_, 1));
    std::fprintf(stderr, "\rloading weights to GPU [%s%s] %.2f / %.2f GiB", std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), done_ / 1073741824.0, total_ / 1073741824.0);
    if (done_ >= total_) std::fprintf(stderr, "\n");
  }

private:
  int64_t total_, done_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point last_{};
};

using RowMap = std::function<int64_t(int64_t)>;  // destination index -> source index, or -1 (zero)

class Uploader {
public:
  Uploader(const Checkpoint & ckpt, int device, ProgressBar & bar) : ckpt_(ckpt), device_(device), bar_(bar) {}

  Expected<kernels::DeviceBuffer> allocate(int64_t n_bytes) {
    auto buffer = kernels::DeviceBuffer::allocate(device_, size_t(n_bytes));
    if (buffer) bytes_ += n_bytes;
    return buffer;
  }

  // Tensor `name` ([rows, cols] or a vector) into `dst` at byte `offset`, as bf16 or fp32.
  // rows_out/cols_out with a map lay it out padded: dst[r, c] = src[row_map(r), col_map(c)].
  Status put(const std::string & name, kernels::DeviceBuffer & dst, int64_t offset, bool as_f32,
             int64_t rows_out = 0, const RowMap & row_map = nullptr, int64_t cols_out = 0,
             const RowMap & col_map = nullptr) {
    const TensorInfo & t = *ckpt_.find(name);  // validated: present, float, right shape
    bar_.add(int64_t(t.bytes.size()));
    const int64_t cols = t.shape.size() == 2 ? t.shape[1] : t.numel();
    const int64_t rows = t.numel() / cols;
    char * at = static_cast<char *>(dst.data()) + offset;
    if (!row_map && !col_map && !as_f32 && t.dtype == DType::bf16)
      return gpu::copy_to_device(at, t.bytes.data(), t.bytes.size());
    std::vector<float> src(size_t(t.numel()));
    tensor_to_f32(t, src.data());
    const int64_t R = row_map ? rows_out : rows, C = col_map ? cols_out : cols;
    std::vector<float> laid(size_t(R * C), 0.0f);
    for (int64_t r = 0; r < R; ++r) {
      const int64_t sr = row_map ? row_map(r) : r;
      if (sr < 0) continue;
      for (int64_t c = 0; c < C; ++c) {
        const int64_t sc = col_map ? col_map(c) : c;
        if (sc >= 0) laid[size_t(r * C + c)] = src[size_t(sr * cols + sc)];
      }
    }
    if (as_f32) return gpu::copy_to_device(at, laid.data(), laid.size() * sizeof(float));
    std::vector<uint16_t> half(laid.size());
    for (size_t i = 0; i < laid.size(); ++i) half[i] = f32_to_bf16(laid[i]);
    return gpu::copy_to_device(at, half.data(), half.size() * sizeof(uint16_t));
  }

  // A whole tensor in its own new buffer.
  Expected<kernels::DeviceBuffer> whole(const std::string & name, bool as_f32, int64_t rows_out = 0,
                                        const RowMap & row_map = nullptr, int64_t cols_out = 0,
                                        const RowMap & col_map = nullptr) {
    const TensorInfo & t = *ckpt_.find(name);
    const int64_t cols = col_map ? cols_out : (t.shape.size() == 2 ? t.shape[1] : t.numel());
    const int64_t rows = row_map ? rows_out : t.numel() / (t.shape.size() == 2 ? t.shape[1] : t.numel());
    auto buffer = allocate(rows * cols * (as_f32 ? 4 : 2));
    if (!buffer) return buffer.status();
    M1_RETURN_IF_ERROR(put(name, *buffer, 0, as_f32, rows_out, row_map, cols_out, col_map));
    return buffer;
  }

  int64_t bytes() const { return bytes_; }

private:
  const Checkpoint & ckpt_;
  int device_;
  ProgressBar & bar_;
  int64_t bytes_ = 0;
};

#define M1_ASSIGN_OR_RETURN_BUFFER(target, expr) \
  do {                                           \
    auto m1_buffer_ = (expr);                    \
    if (!m1_buffer_) return m1_buffer_.status(); \
    target = std::move(m1_buffer_).value();      \
  } while (0)

Status load_attention(Uploader & up, const ModelConfig & c, const GpuGeometry & g, int l, GpuLayerWeights & w) {
  const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
  const int64_t d = g.head_dim, H = g.heads;
  if (w.kind == LayerKind::lightning) {
    // Padded row h*384 + part*128 + i holds config row h*3d + part*d + i (i < d).
    const RowMap qkv_rows = [d](int64_t r) -> int64_t {
      const int64_t h = r / 384, part = (r % 384) / 128, i = r % 128;
      return i < d ? h * 3 * d + part * d + i : -1;
    };
    const int64_t D = c.hidden_size, qkv_bytes = H * 384 * D * 2;
    M1_ASSIGN_OR_RETURN_BUFFER(w.qkv, up.allocate(qkv_bytes + H * d * D * 2));
    M1_RETURN_IF_ERROR(up.put(p + "qkv_proj.weight", w.qkv, 0, false, H * 384, d == 128 ? nullptr : qkv_rows));
    M1_RETURN_IF_ERROR(up.put(p + "output_gate.weight", w.qkv, qkv_bytes, false));
    M1_ASSIGN_OR_RETURN_BUFFER(w.out_norm, up.whole(p + "norm.weight", false));
    M1_ASSIGN_OR_RETURN_BUFFER(w.out_proj, up.whole(p + "out_proj.weight", false));
    std::vector<float> decay(static_cast<size_t>(H));
    for (int h = 0; h < H; ++h) decay[size_t(h)] = float(c.lightning_slope(l, h));
    M1_ASSIGN_OR_RETURN_BUFFER(w.decay, up.allocate(H * 4));
    return gpu::copy_to_device(w.decay.data(), decay.data(), decay.size() * 4);
  }
  const int64_t Hs = g.softmax_heads, kv_rows = int64_t(g.kv_heads) * 128;
  // Inverse of softmax_row: padded row -> config row, or -1 for a zero row.
  const RowMap q_rows = [g, d](int64_t r) -> int64_t {
    const int64_t head = r / 128, i = r % 128, kv = head / 8, member = head % 8;
    return (i < d && member < g.group) ? (kv * g.group + member) * d + i : -1;
  };
  const RowMap kv_map = [d](int64_t r) -> int64_t { return r % 128 < d ? (r / 128) * d + r % 128 : -1; };
  const bool pad = g.padded();
  const int64_t row_bytes = int64_t(c.hidden_size) * 2;
  M1_ASSIGN_OR_RETURN_BUFFER(w.qkv, up.allocate((Hs * 128 + 2 * kv_rows) * row_bytes));
  M1_RETURN_IF_ERROR(up.put(p + "q_proj.weight", w.qkv, 0, false, Hs * 128, pad ? q_rows : nullptr));
  M1_RETURN_IF_ERROR(up.put(p + "k_proj.weight", w.qkv, Hs * 128 * row_bytes, false, kv_rows, pad ? kv_map : nullptr));
  M1_RETURN_IF_ERROR(
      up.put(p + "v_proj.weight", w.qkv, (Hs * 128 + kv_rows) * row_bytes, false, kv_rows, pad ? kv_map : nullptr));
  M1_ASSIGN_OR_RETURN_BUFFER(w.o_proj, up.whole(p + "o_proj.weight", false, 0, nullptr, Hs * 128, pad ? q_rows : nullptr));
  return {};
}

Status load_experts(Uploader & up, const ModelConfig & c, WeightNaming naming, int l, GpuLayerWeights & w) {
  const std::string p = "model.layers." + std::to_string(l) + (naming == WeightNaming::original ? ".block_sparse_moe." : ".mlp.");
  const int64_t D = c.hidden_size, F = c.expert_ffn, E = c.n_experts, block = D * F * 2;  // bytes of one bf16 [F, D]
  M1_ASSIGN_OR_RETURN_BUFFER(w.router, up.whole(p + "gate.weight", true));
  if (naming == WeightNaming::transformers) {
    M1_ASSIGN_OR_RETURN_BUFFER(w.gate_up, up.whole(p + "experts.gate_up_proj", false));
    M1_ASSIGN_OR_RETURN_BUFFER(w.down, up.whole(p + "experts.down_proj", false));
    return {};
  }
  M1_ASSIGN_OR_RETURN_BUFFER(w.gate_up, up.allocate(2 * block * E));
  M1_ASSIGN_OR_RETURN_BUFFER(w.down, up.allocate(block * E));
  for (int64_t e = 0; e < E; ++e) {
    const std::string x = p + "experts." + std::to_string(e) + ".";
    M1_RETURN_IF_ERROR(up.put(x + "w1.weight", w.gate_up, 2 * block * e, false));
    M1_RETURN_IF_ERROR(up.put(x + "w3.weight", w.gate_up, 2 * block * e + block, false));
    M1_RETURN_IF_ERROR(up.put(x + "w2.weight", w.down, block * e, false));
  }
  return {};
}

}  // namespace

Expected<GpuWeights> load_gpu_weights(const Checkpoint & ckpt, const ModelConfig & c, int device, bool progress) {
  auto naming = validate_checkpoint(ckpt, c);
  if (!naming) return naming.status();
  auto geometry = gpu_geometry(c);
  if (!geometry) return geometry.status();
  int64_t total = 0;
  for (const TensorSpec & spec : expected_tensors(c, *naming)) total += int64_t(ckpt.find(spec.name)->bytes.size());
  ProgressBar bar(total, progress);
  Uploader up(ckpt, device, bar);
  GpuWeights w;
  w.geometry = *geometry;
  M1_ASSIGN_OR_RETURN_BUFFER(w.embed, up.whole("model.embed_tokens.weight", false));
  M1_ASSIGN_OR_RETURN_BUFFER(w.final_norm, up.whole("model.norm.weight", false));
  M1_ASSIGN_OR_RETURN_BUFFER(w.lm_head, up.whole("lm_head.weight", true));
  w.layers.resize(size_t(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    GpuLayerWeights & layer = w.layers[size_t(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    layer.kind = c.layer_kinds[size_t(l)];
    M1_ASSIGN_OR_RETURN_BUFFER(layer.input_norm, up.whole(p + "input_layernorm.weight", false));
    M1_ASSIGN_OR_RETURN_BUFFER(layer.post_attention_norm, up.whole(p + "post_attention_layernorm.weight", false));
    M1_RETURN_IF_ERROR(load_attention(up, c, *geometry, l, layer));
    M1_RETURN_IF_ERROR(load_experts(up, c, *naming, l, layer));
  }
  w.device_bytes = up.bytes();
  return w;
}

}  // namespace m1
