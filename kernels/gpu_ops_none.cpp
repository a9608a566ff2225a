// The GPU launchers in a build without CUDA: each reports that no kernel was built, so code that
// compiles everywhere can call them and show the reason.
#include <string>

#include "kernels/activation_gpu.h"
#include "kernels/lightning_attention_gpu.h"
#include "kernels/moe_routing_gpu.h"
#include "kernels/norm_gpu.h"
#include "kernels/softmax_attention_gpu.h"
#include "m1_build_config.h"

namespace m1::kernels::gpu {
namespace {

Status not_built(const char * kernel) {
  return Status::error(std::string(kernel) + ": built without CUDA (" + M1_CUDA_REASON + ")");
}

}  // namespace

Status lightning_prefill(const LightningPrefillArgs &, Stream) { return not_built("lightning_prefill"); }
Status lightning_decode(const LightningDecodeArgs &, Stream) { return not_built("lightning_decode"); }
Status residual_rms_norm(const ResidualRmsNormArgs &, Stream) { return not_built("residual_rms_norm"); }
Status gated_rms_norm(const GatedRmsNormArgs &, Stream) { return not_built("gated_rms_norm"); }
Status swiglu(const SwigluArgs &, Stream) { return not_built("swiglu"); }
Status silu_inplace(Bf16 *, std::int64_t, Stream) { return not_built("silu_inplace"); }
Status moe_route(const MoeRouteArgs &, Stream) { return not_built("moe_route"); }
Status moe_permute(const MoePermuteArgs &, Stream) { return not_built("moe_permute"); }
Status moe_unpermute(const MoeUnpermuteArgs &, Stream) { return not_built("moe_unpermute"); }
Status rope_append(const RopeAppendArgs &, Stream) { return not_built("rope_append"); }
Status paged_decode(const PagedDecodeArgs &, Stream) { return not_built("paged_decode"); }
Status paged_prefill(const PagedPrefillArgs &, Stream) { return not_built("paged_prefill"); }
std::size_t paged_decode_workspace_bytes(int, int, int, int) { return 0; }  // nothing runs without CUDA

}  // namespace m1::kernels::gpu
