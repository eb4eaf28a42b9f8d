#!/bin/sh
# Per-step sandbox overhead: direct exec vs bare bwrap vs a full yoe step (median of
# BENCH_N runs, default 300). Builds the release helper and the bench, then runs it.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p yoe-sandbox-helper
target_dir="${CARGO_TARGET_DIR:-target}"
YOE_SANDBOX_HELPER="$(realpath "$target_dir/release/yoe-sandbox-helper")" \
  cargo bench --bench step_overhead
ls -l "$target_dir/release/yoe-sandbox-helper" | awk '{print "helper size: " $5 " bytes"}'
