#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only those missing.
# Idempotent: a second run with everything present does nothing and touches no network.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost-dev nlohmann-json3-dev libseccomp-dev libsqlite3-dev
  libgtest-dev libgmock-dev libpcre2-dev libcli11-dev libopenblas-dev
  libbenchmark-dev libedit-dev sqlite3 python3
  # bubblewrap: the peer the sandbox's spawn benchmark (m1_sandbox_bench) measures against;
  # util-linux's setpriv (always present) runs the unprivileged sandbox tests as nobody.
  bubblewrap
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "setup: cannot install ${missing[*]}: not root and sudo is unavailable or asks for a password;" \
       "run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
