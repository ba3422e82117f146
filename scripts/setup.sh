#!/usr/bin/env bash
# Installs what tidepool needs from Debian's packages (only what is missing), then
# configures and builds. Idempotent: a second run installs nothing and rebuilds only
# what changed. Used by both quick-start commands of the README. The normal build is
# put on PATH: PREFIX/bin/tidepool becomes a symbolic link to BUILD/tidepool, so the
# commands tidepool prints (replay commands, swarm's replay.txt) work as pasted and
# always run the latest build.
#
#   scripts/setup.sh [--sanitize | --tsan] [--build-dir DIR] [--no-build] [--prefix P | --no-install]
#
# --sanitize    configure the ASan+UBSan build (default dir: build-asan; not installed)
# --tsan        configure the ThreadSanitizer build (clang; default dir: build-tsan; not
#               installed): the parallel simulator's race check (lua/README.md "Threads")
# --build-dir   where to build (default: build)
# --no-build    only install the packages
# --prefix P    link P/bin/tidepool (default /usr/local, on Debian's default PATH)
# --no-install  do not touch P/bin (also: TP_NO_INSTALL=1)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=0
tsan=0
build_dir=""
do_build=1
prefix=/usr/local
do_install=1
if [ "${TP_NO_INSTALL:-0}" = 1 ]; then do_install=0; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --tsan) tsan=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --prefix) prefix=$2; shift ;;
    --no-install) do_install=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ $sanitize = 1 ] && [ $tsan = 1 ]; then
  echo "setup.sh: --sanitize (ASan) and --tsan (ThreadSanitizer) cannot be combined; pick one" >&2
  exit 2
fi
if [ -z "$build_dir" ]; then
  if [ $sanitize = 1 ]; then build_dir="$root/build-asan"
  elif [ $tsan = 1 ]; then build_dir="$root/build-tsan"
  else build_dir="$root/build"; fi
fi

# Build and test dependencies. clang and libclang-rt are for the libFuzzer targets;
# gnuplot-nox draws the report plots; lua5.4 and sqlite3 are the command-line tools
# the tests use to check scripts and result databases; jq reads the JSON lines of
# tests/standard_trace.test.sh and bench/run_standard.sh, time (/usr/bin/time) measures
# peak RSS in the benchmarks; graphviz (sfdp) draws the report's topology view (the
# overlay as a graph, reports/topology.c; the report still works without it).
packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libsodium-dev libsqlite3-dev libzstd-dev libmimalloc-dev sqlite3 liblua5.4-dev lua5.4 libcmocka-dev
  gnuplot-nox libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev curl iproute2 python3
  jq time graphviz
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ $do_build = 1 ] || exit 0

san=OFF
build_type=RelWithDebInfo
if [ $sanitize = 1 ]; then san=ON; build_type=Debug; fi
# ThreadSanitizer with clang (its runtime, libclang-rt-14-dev, is in the list above),
# RelWithDebInfo: optimised so that the simulator's tests stay within CI's time, with
# the debug info TSan's reports need; mimalloc is off (TSan intercepts malloc itself:
# CMakeLists.txt).
cc_env=()
tsan_flag=OFF
if [ $tsan = 1 ]; then tsan_flag=ON; cc_env=(CC=clang); fi
# TP_WERROR: warnings are errors in the project's own builds (off by default for anyone
# building with other flags or compilers).
env "${cc_env[@]}" cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=$build_type \
  -DTP_SANITIZE=$san -DTP_TSAN=$tsan_flag -DTP_WERROR=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

# tidepool on PATH (not the sanitizer build): a link, replaced if it points elsewhere,
# so running this again changes nothing. Where PREFIX/bin is not writable (not root,
# no sudo) it says how instead of failing the set-up.
[ $sanitize = 0 ] && [ $tsan = 0 ] && [ $do_install = 1 ] || exit 0
build_abs=$(cd "$build_dir" && pwd)
target="$prefix/bin/tidepool"
if [ "$(readlink "$target" 2>/dev/null || true)" != "$build_abs/tidepool" ]; then
  sudo_cmd=""
  if [ ! -w "$prefix/bin" ] && [ -d "$prefix/bin" ] && [ "$(id -u)" != 0 ]; then sudo_cmd="sudo -n"; fi
  if $sudo_cmd mkdir -p "$prefix/bin" 2>/dev/null &&
     $sudo_cmd ln -sfn "$build_abs/tidepool" "$target" 2>/dev/null; then
    echo "setup: tidepool is on PATH: $target -> $build_abs/tidepool"
  else
    echo "setup: could not link $target (not writable); put tidepool on PATH with:" >&2
    echo "  sudo ln -sfn '$build_abs/tidepool' '$target'" >&2
  fi
fi
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "setup: note: $prefix/bin is not on PATH; add it, e.g. export PATH=\"$prefix/bin:\$PATH\"" >&2 ;;
esac
