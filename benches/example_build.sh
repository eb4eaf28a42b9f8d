#!/bin/sh
# Wall time of building the example project: clean with -j 1, clean with -j 2, and a fully
# cached rebuild (every output re-hashed). Median of RUNS (default 3) each, release build.
set -eu
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
cargo build --release --workspace --quiet
target_dir="$(realpath "${CARGO_TARGET_DIR:-target}")"
yoe="$target_dir/release/yoe"
work="$(mktemp -d)"
chmod 755 "$work" # as root, steps run as the build user, who must reach the project
trap 'rm -rf "$work"' EXIT
cp -r examples/demo "$work/demo"
rm -rf "$work/demo/build"
export YOE_CACHE="$work/cache"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # label, args...
  label="$1"; shift
  times=""
  for _ in $(seq "$RUNS"); do
    [ "$label" = cached ] || rm -rf "$work/demo/build"
    s=$(date +%s.%N)
    "$yoe" --project "$work/demo" build "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    times="$times $(echo "$e - $s" | bc)"
  done
  printf '%-10s median %.2f s  (runs:%s)\n' "$label" "$(echo $times | tr ' ' '\n' | median)" "$times"
}
echo "example project: $(find "$work/demo/units" "$work/demo/images" -name "*.star" 2>/dev/null | wc -l) unit/image .star files, $(nproc) cores"
run "clean -j1" -j 1
run "clean -j2" -j 2
run cached
