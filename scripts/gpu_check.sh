#!/usr/bin/env bash
# Run on the GPU machine (device tool), from the repository root, with .deps carried:
#   scripts/gpu_check.sh OUT_DIR [ctest args...]
# M1_GPU_CMAKE_ARGS adds configure flags, M1_GPU_CPU_TESTS=0 skips the cpu tests, M1_GPU_BENCHES
# picks the benchmarks (scripts/gpu_benchmarks.sh).
# Configures the engine-only build with CUDA and NCCL (NCCL from the PyTorch install), builds with
# all cores, runs the gpu-labelled tests and the benchmarks, writes logs under OUT_DIR and prints a
# short table last. Debian packages the machine lacks come from .deps/debs (scripts/fetch_gpu_deps.sh).
set -uo pipefail
out=${1:?usage: scripts/gpu_check.sh OUT_DIR [ctest args...]}
shift
mkdir -p "$out"
root=$(pwd)
prefix=$root/.deps/root
build=${M1_GPU_BUILD_DIR:-build-gpu}

step() { echo "== $*" | tee -a "$out/summary.log"; }

# Debian packages, unpacked into a private prefix (never into /).
if [ -d .deps/debs ]; then
  mkdir -p "$prefix"
  for deb in .deps/debs/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
fi
multiarch=$prefix/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$multiarch:$multiarch/openblas-pthread:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$multiarch/pkgconfig:$multiarch/openblas-pthread/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$prefix
# NVLink multicast stays off on shared hosts (device KINDS.md).
export NCCL_NVLS_ENABLE=0

nccl_root=$(python3 -c 'import nvidia.nccl; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
if [ -n "$nccl_root" ] && [ ! -e "$nccl_root/lib/libnccl.so" ] && [ -e "$nccl_root/lib/libnccl.so.2" ]; then
  ln -sf libnccl.so.2 "$nccl_root/lib/libnccl.so"
fi
[ -n "$nccl_root" ] && export LD_LIBRARY_PATH=$nccl_root/lib:$LD_LIBRARY_PATH

step "machine"
{ nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader; nvcc --version | tail -1;
  cmake --version | head -1; echo "nccl root: ${nccl_root:-none}"; } 2>&1 | tee -a "$out/summary.log"

step "configure"
cmake -S . -B "$build" -G Ninja -DM1_ENGINE_ONLY=ON -DM1_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$prefix/usr;$multiarch" -DM1_NCCL_ROOT="$nccl_root" ${M1_GPU_CMAKE_ARGS:-} >"$out/configure.log" 2>&1
configure_rc=$?
tail -3 "$out/configure.log"

step "build ($(nproc) cores)"
start=$(date +%s)
cmake --build "$build" -j "$(nproc)" >"$out/build.log" 2>&1
build_rc=$?
build_s=$(( $(date +%s) - start ))
tail -5 "$out/build.log"

step "doctor"
"$build/m1" doctor 2>&1 | tee "$out/doctor.log"

step "gpu tests"
(cd "$build" && ctest -L gpu --output-on-failure "$@") >"$out/gpu_tests.log" 2>&1
gpu_rc=$?
tail -15 "$out/gpu_tests.log"

step "cpu tests (engine libraries)"
cpu_rc=0
# M1_GPU_CPU_TESTS=0 skips them (short device budgets; CI runs them anyway).
if [ "${M1_GPU_CPU_TESTS:-1}" != 0 ]; then
  (cd "$build" && ctest -L cpu -j "$(nproc)") >"$out/cpu_tests.log" 2>&1
  cpu_rc=$?
else
  echo "skipped (M1_GPU_CPU_TESTS=0)" >"$out/cpu_tests.log"
fi
tail -3 "$out/cpu_tests.log"

step "benchmarks"
bench_rc=0
if [ -x scripts/gpu_benchmarks.sh ]; then
  scripts/gpu_benchmarks.sh "$build" >"$out/benchmarks.log" 2>&1; bench_rc=$?
  tail -40 "$out/benchmarks.log"
else
  echo "no GPU benchmarks yet (scripts/gpu_benchmarks.sh)" | tee "$out/benchmarks.log"
fi

passed=$(grep -c "Passed" "$out/gpu_tests.log" || true)
skipped=$(grep -c "Skipped" "$out/gpu_tests.log" || true)
failed=$(grep -cE "\*\*\*Failed|Exception" "$out/gpu_tests.log" || true)
echo
printf '%-22s %s\n' "step" "result" | tee -a "$out/summary.log"
printf '%-22s %s\n' "configure" "rc=$configure_rc" "build" "rc=$build_rc (${build_s}s)" \
  "gpu tests" "rc=$gpu_rc passed=$passed skipped=$skipped failed=$failed" \
  "cpu tests" "rc=$cpu_rc" "benchmarks" "rc=$bench_rc" | tee -a "$out/summary.log"
[ $configure_rc -eq 0 ] && [ $build_rc -eq 0 ] && [ $gpu_rc -eq 0 ] && [ $cpu_rc -eq 0 ] && [ $bench_rc -eq 0 ]
