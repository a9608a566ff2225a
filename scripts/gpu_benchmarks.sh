#!/usr/bin/env bash
# GPU benchmarks, run on the GPU machine by scripts/gpu_check.sh with the build folder as $1
# (default build-gpu): kernel timings at real M1 dimensions next to the measured copy bandwidth
# and cuBLAS GEMM peak, the 1B-model forward and one real-size layer's decode step. BENCHMARKS.md
# records the numbers.
set -uo pipefail
build=${1:-build-gpu}
bench=$build/tests/bench/m1_gpu_kernels_bench
if [ ! -x "$bench" ]; then
  echo "no $bench (built without CUDA?)"
  exit 1
fi
# M1_GPU_BENCHES picks which run (default "kernels model layer"): "kernels", "softmax", "moe", "gemv",
# "model", "layer", "e2e".
benches=${M1_GPU_BENCHES:-kernels model layer}
rc=0
if [[ " $benches " == *" kernels "* ]]; then
  "$bench" "${@:2}" || rc=1
  # The peer for softmax prefill, in the same run: PyTorch's flash attention (where torch is installed).
  if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    python3 "$(dirname "$0")/../tests/bench/sdpa_reference.py" "${@:2}" || rc=1
  fi
fi
# "softmax": the ceilings and both softmax prefill kernels, then PyTorch's flash attention as the peer.
if [[ " $benches " == *" softmax "* ]]; then
  "$bench" --softmax "${@:2}" || rc=1
  python3 "$(dirname "$0")/../tests/bench/sdpa_reference.py" "${@:2}" || rc=1
fi
# "gemv": the ceilings and the decode-size GEMMs only (the streaming kernel vs cuBLAS).
if [[ " $benches " == *" gemv "* ]]; then
  "$bench" --gemv "${@:2}" || rc=1
fi
# "moe": the ceilings and the MoE rows of the kernel bench only (grouped expert GEMMs vs dense cuBLAS).
if [[ " $benches " == *" moe "* ]]; then
  "$bench" --moe "${@:2}" || rc=1
fi
# The whole GPU forward of a ~1B-parameter random M1-shaped model (prefill and decode, batch 1).
if [[ " $benches " == *" model "* ]] && [ -x "$build/tests/bench/m1_gpu_model_bench" ]; then
  "$build/tests/bench/m1_gpu_model_bench" --dir "${TMPDIR:-/tmp}/m1_gpu_bench_1b" || rc=1
fi
# One real-size decoder layer (lightning, then softmax over a 4K-token paged cache, each with its MoE):
# decode steps at batch 1, 16, 64 in GB/s vs the copy bandwidth, without and with CUDA graphs.
if [[ " $benches " == *" layer "* ]] && [ -x "$build/tests/bench/m1_gpu_layer_bench" ]; then
  "$build/tests/bench/m1_gpu_layer_bench" || rc=1
fi
# End to end next to transformers (tests/bench/transformers_reference.py) on the same checkpoint and
# GPU, the decode floor taken at the copy bandwidth measured here.
if [[ " $benches " == *" e2e "* ]] && [ -x "$build/tests/bench/m1_gpu_model_bench" ]; then
  e2e_dir=${TMPDIR:-/tmp}/m1_gpu_bench_1b
  gbps=$(python3 "$(dirname "$0")/../tests/bench/transformers_reference.py" --copy-bandwidth) || gbps=3350
  echo "measured copy bandwidth: $gbps GB/s (read + write)"
  "$build/tests/bench/m1_gpu_model_bench" --dir "$e2e_dir" --gbps "$gbps" || rc=1
  python3 "$(dirname "$0")/../tests/bench/transformers_reference.py" --dir "$e2e_dir" || rc=1
fi
exit $rc
