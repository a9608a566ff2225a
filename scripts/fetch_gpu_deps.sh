#!/usr/bin/env bash
# Run here (a Debian machine with the package mirror) before a GPU-machine call: downloads the
# Debian packages the engine-only build needs but the GPU machine lacks into .deps/debs
# (git-ignored). Carry `.deps` in the device call; scripts/gpu_check.sh unpacks them there.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libpcre2-dev libpcre2-8-0
          libgtest-dev libgmock-dev libcli11-dev libbenchmark-dev libbenchmark1debian nlohmann-json3-dev
          libsqlite3-dev libsqlite3-0)  # sqlite: the engine's state-cache disk index
mkdir -p .deps/debs
cd .deps/debs
missing=()
for p in "${packages[@]}"; do ls "${p}"_*.deb >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get download "${missing[@]}" 2>/dev/null || { apt-get update -q && apt-get download "${missing[@]}"; }
fi
du -sh . | awk '{print "fetch_gpu_deps: .deps/debs holds " $1}'
