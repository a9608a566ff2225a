#!/usr/bin/env bash
# GPU benchmarks, run on the GPU machine by scripts/gpu_check.sh with the build folder as $1
# (default build-gpu): kernel timings at real M1 dimensions next to the measured copy bandwidth
# and cuBLAS GEMM peak. Prints one table; BENCHMARKS.md records the numbers.
set -uo pipefail
build=${1:-build-gpu}
bench=$build/tests/bench/m1_gpu_kernels_bench
if [ ! -x "$bench" ]; then
  echo "no $bench (built without CUDA?)"
  exit 1
fi
"$bench" "${@:2}"
