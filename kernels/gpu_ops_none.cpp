// The GPU launchers in a build without CUDA: each reports that no kernel was built, so code that
// compiles everywhere can call them and show the reason.
#include <string>

#include "kernels/activation_gpu.h"
#include "kernels/gemm_gpu.h"
#include "kernels/graph_gpu.h"
#include "kernels/lightning_attention_gpu.h"
#include "kernels/moe_gemm_gpu.h"
#include "kernels/moe_routing_gpu.h"
#include "kernels/norm_gpu.h"
#include "kernels/softmax_attention_gpu.h"
#include "kernels/tensor_ops_gpu.h"
#include "m1_build_config.h"

namespace m1::kernels::gpu {
namespace {

Status not_built(const char * kernel) {
  return Status::error(std::string(kernel) + ": built without CUDA (" + M1_CUDA_REASON + ")");
}

}  // namespace

Status lightning_prefill(const LightningPrefillArgs &, Stream) { return not_built("lightning_prefill"); }
Status lightning_decode(const LightningDecodeArgs &, Stream) { return not_built("lightning_decode"); }
int lightning_prefill_chunk_tokens(int, int, int) { return 0; }  // nothing runs without CUDA
std::size_t lightning_prefill_workspace_bytes(int, int, int, int) { return 0; }
Status residual_rms_norm(const ResidualRmsNormArgs &, Stream) { return not_built("residual_rms_norm"); }
Status gated_rms_norm(const GatedRmsNormArgs &, Stream) { return not_built("gated_rms_norm"); }
Status swiglu(const SwigluArgs &, Stream) { return not_built("swiglu"); }
Status silu_rows_inplace(Bf16 *, int, int, std::int64_t, Stream) { return not_built("silu_rows_inplace"); }
Status moe_route(const MoeRouteArgs &, Stream) { return not_built("moe_route"); }
Status moe_permute(const MoePermuteArgs &, Stream) { return not_built("moe_permute"); }
Status moe_unpermute(const MoeUnpermuteArgs &, Stream) { return not_built("moe_unpermute"); }
Status moe_route_permute_small(const MoeRoutePermuteArgs &, Stream) { return not_built("moe_route_permute_small"); }
Status moe_expert_gemm(const MoeGemmArgs &, Stream) { return not_built("moe_expert_gemm"); }
Status moe_expert_gemms_per_expert(const MoePerExpertArgs &, Stream) { return not_built("moe_expert_gemms_per_expert"); }
Status rope_append(const RopeAppendArgs &, Stream) { return not_built("rope_append"); }
Status paged_decode(const PagedDecodeArgs &, Stream) { return not_built("paged_decode"); }
Status paged_prefill(const PagedPrefillArgs &, Stream) { return not_built("paged_prefill"); }
Status gemm_nt(const GemmArgs &, Stream) { return not_built("gemm_nt"); }
Status copy_to_device(void *, const void *, std::size_t) { return not_built("copy_to_device"); }
Status copy_to_host(void *, const void *, std::size_t) { return not_built("copy_to_host"); }
Status copy_to_device_async(void *, const void *, std::size_t, Stream) { return not_built("copy_to_device_async"); }
Status copy_to_host_async(void *, const void *, std::size_t, Stream) { return not_built("copy_to_host_async"); }
Status copy_2d(void *, std::size_t, const void *, std::size_t, std::size_t, std::size_t, Stream) { return not_built("copy_2d"); }
Status fill_zero(void *, std::size_t, Stream) { return not_built("fill_zero"); }
Status fill_uniform(void *, std::int64_t, bool, std::uint64_t, float, float, Stream) { return not_built("fill_uniform"); }
Graph::~Graph() = default;
Graph::Graph(Graph &&) noexcept {}
Graph & Graph::operator=(Graph &&) noexcept { return *this; }
Expected<Graph> Graph::capture(const std::function<Status()> &) { return not_built("graph capture"); }
Status Graph::launch() const { return not_built("graph launch"); }
Status gather_rows(const Bf16 *, int, const std::int32_t *, int, Bf16 *, Stream) { return not_built("gather_rows"); }
Status bf16_to_f32(const Bf16 *, float *, std::int64_t, Stream) { return not_built("bf16_to_f32"); }
Status synchronize(Stream) { return not_built("synchronize"); }
std::size_t paged_decode_workspace_bytes(int, int, int, int) { return 0; }  // nothing runs without CUDA

}  // namespace m1::kernels::gpu
