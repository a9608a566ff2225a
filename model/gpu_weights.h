// The M1 weights on a GPU (M1_SPEC.md section 1): bf16 matrices and norms, fp32 MoE routers and
// fp32 LM head, read straight from the safetensors files. The kernels fix the head dim at 128 and
// the GQA group at 8; a config with smaller heads or groups (the test models) is laid out padded:
// each head's rows sit at the start of a 128-row block with zero rows after, and softmax query
// heads sit in groups of 8 per KV head with zero heads filling a group. Zero rows give zero q, k,
// v, so the real heads compute exactly what they would unpadded; the padded outputs are dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/device_memory.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace m1 {

// How a config's heads map onto the kernels' fixed shapes.
struct GpuGeometry {
  int head_dim = 0;        // d of the config (<= 128)
  int heads = 0;           // H (lightning heads, and the config's softmax query heads)
  int kv_heads = 0;        // softmax KV heads
  int group = 0;           // query heads per KV head in the config (<= 8)
  int softmax_heads = 0;   // 8 * kv_heads: query heads as the kernels see them
  bool padded() const { return head_dim != 128 || group != 8; }
  // Row of the padded softmax q (or column of o_proj) for config row r (head r / d, dim r % d).
  int64_t softmax_row(int64_t r) const;
};

// The geometry, or why this config cannot run on the GPU kernels.
Expected<GpuGeometry> gpu_geometry(const ModelConfig &);

struct GpuLayerWeights {
  LayerKind kind = LayerKind::lightning;
  kernels::DeviceBuffer input_norm, post_attention_norm;  // bf16 [D]
  // One GEMM computes all of a layer's input projections (one weight read, one launch per step).
  // lightning: bf16 [H*384 + H*d, D]: per head q, k, v blocks of 128 rows, then the output gate's
  // H*d rows. softmax: bf16 [8*Hkv*128 + 2*Hkv*128, D]: q, then k, then v rows.
  kernels::DeviceBuffer qkv;
  // lightning
  kernels::DeviceBuffer out_norm;     // bf16 [H*d]
  kernels::DeviceBuffer out_proj;     // bf16 [D, H*d]
  kernels::DeviceBuffer decay;        // fp32 [H]: s(l, h)
  // softmax
  kernels::DeviceBuffer o_proj;          // bf16 [D, 8*Hkv*128]
  // MoE
  kernels::DeviceBuffer router;   // fp32 [E, D]
  kernels::DeviceBuffer gate_up;  // bf16 [E, 2F, D]: rows [0, F) gate (w1), [F, 2F) up (w3)
  kernels::DeviceBuffer down;     // bf16 [E, D, F] (w2)
};

struct GpuWeights {
  GpuGeometry geometry;
  kernels::DeviceBuffer embed;       // bf16 [V, D]
  kernels::DeviceBuffer final_norm;  // bf16 [D]
  kernels::DeviceBuffer lm_head;     // fp32 [V, D]
  std::vector<GpuLayerWeights> layers;
  int64_t device_bytes = 0;
};

// Validates the checkpoint, then uploads. `progress`: a bar of bytes read / total on stderr when
// the checkpoint is large enough for loading to take noticeable time.
Expected<GpuWeights> load_gpu_weights(const Checkpoint &, const ModelConfig &, int device, bool progress);

// Weights drawn on the device for benchmarks at real M1 sizes (a checkpoint file of one real layer
// takes minutes to write): uniform with the spread of write_random_checkpoint (std 1/sqrt(fan-in),
// routers twice that, norms 1 +- 0.2), exact lightning decays. Only for configs that need no
// padding (head dim 128, 8 query heads per KV head), as the padded rows must be zero.
Expected<GpuWeights> random_gpu_weights(const ModelConfig &, int device, std::uint64_t seed);

}  // namespace m1
