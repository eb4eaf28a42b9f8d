#!/usr/bin/env bash
# Benchmark: our ext4 writer against `mke2fs -t ext4 -d` on the same tree, in one run.
#
# Builds a tree of ~20,000 files (mostly small, a few large, symlinks, 5 levels deep,
# ~500 MB), then times, alternating, median of $RUNS (default 5):
#   mke2fs -t ext4 -b 4096 -O ^resize_inode -d TREE   (same block size and features as ours)
#   yoe-ext4 --from-dir TREE                           (walks the tree like mke2fs -d)
#   yoe-ext4 --manifest M --staging TREE               (the production path)
# all writing a fixed-size image to the same disk. Prints times, files/s, MB/s, the ratio
# ours/mke2fs and peak RSS. Both images are checked with e2fsck -fn once.
#
# Usage: benches/ext4.sh [WORKDIR]   (env: RUNS, FILES, SIZE, KEEP=1 to keep WORKDIR)
set -euo pipefail

RUNS=${RUNS:-5}
FILES=${FILES:-20000}
SIZE=${SIZE:-1G}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/yoe-ext4-bench.XXXXXX")}
mkdir -p "$WORK"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --quiet --release -p yoe-ext4 --manifest-path "$ROOT/Cargo.toml"
OURS="$CARGO_TARGET_DIR/release/yoe-ext4"

TREE="$WORK/tree"
if [ ! -d "$TREE" ]; then
  echo "building tree in $TREE ..." >&2
  python3 - "$TREE" "$FILES" "$WORK/manifest.txt" <<'PY'
import os, random, sys
root, nfiles, manifest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(20261124)
os.makedirs(root)
# Directories: 5 levels, branching so that there are ~1,500 of them.
dirs = [""]
frontier = [""]
for depth in range(5):
    nxt = []
    for d in frontier:
        for i in range(rng.randint(3, 7) if depth < 4 else rng.randint(0, 3)):
            p = f"{d}/d{depth}-{i:02d}"
            os.mkdir(root + p)
            nxt.append(p)
    dirs += nxt
    frontier = nxt
lines = ["dir / mode=0755"] + [f"dir {d} mode=0755" for d in dirs[1:]]
blob = rng.randbytes(48 << 20)
def content(n):
    off = rng.randrange(0, len(blob) - min(n, len(blob)))
    if n <= len(blob):
        return blob[off:off + n]
    return (blob * (n // len(blob) + 1))[off:off + n]
total = 0
for i in range(nfiles):
    d = rng.choice(dirs)
    r = rng.random()
    if i < 10:
        n = rng.randint(16 << 20, 32 << 20)          # a few large files
    elif r < 0.90:
        n = int(min(rng.lognormvariate(7.5, 1.3), 64 << 10))   # mostly small
    else:
        n = rng.randint(16 << 10, 200 << 10)          # some medium
    p = f"{d}/f{i:05d}.bin"
    with open(root + p, "wb") as f:
        f.write(content(n))
    total += n
    lines.append(f"file {p} mode=0644 src={p[1:]}")
for i in range(500):
    d = rng.choice(dirs)
    p = f"{d}/l{i:03d}"
    t = "x" * rng.randint(1, 120)
    os.symlink(t, root + p)
    lines.append(f"symlink {p} target={t}")
with open(manifest, "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"{nfiles} files, {len(dirs)} dirs, 500 symlinks, {total/1e6:.0f} MB", file=sys.stderr)
PY
fi
NFILES=$(find "$TREE" -type f | wc -l)
BYTES=$(find "$TREE" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
MANIFEST="$WORK/manifest.txt"

# name -> command (the image path is appended)
run_mke2fs() { mke2fs -q -F -t ext4 -b 4096 -O ^resize_inode -E root_owner=0:0 -d "$TREE" "$1" "$SIZE" >/dev/null 2>&1; }
run_fromdir() { "$OURS" --from-dir "$TREE" --owner 0:0 --size "$SIZE" --out "$1" >/dev/null; }
run_manifest() { "$OURS" --manifest "$MANIFEST" --staging "$TREE" --size "$SIZE" --out "$1" >/dev/null; }

timed() { # name fn -> appends "seconds maxrss_kb" to $WORK/name.times
  local img="$WORK/$1.img"
  rm -f "$img"
  sync  # start every run with no writeback pending from the previous one
  /usr/bin/time -f "%e %M" -o "$WORK/$1.last" bash -c "$(declare -f "$2"); OURS='$OURS' TREE='$TREE' SIZE='$SIZE' MANIFEST='$MANIFEST' $2 '$img'"
  cat "$WORK/$1.last" >> "$WORK/$1.times"
}

rm -f "$WORK"/*.times
for name in mke2fs fromdir manifest; do timed "$name" "run_$name"; : > "$WORK/$name.times"; done # warm-up
for _ in $(seq "$RUNS"); do
  for name in mke2fs fromdir manifest; do timed "$name" "run_$name"; done
done
for name in mke2fs fromdir manifest; do
  out=$(e2fsck -fn "$WORK/$name.img" 2>&1) || { echo "e2fsck failed on $name:"; echo "$out"; exit 1; }
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
M=$(cut -d' ' -f1 "$WORK/mke2fs.times" | median)
printf '\ntree: %d files, %.0f MB, image %s, block size 4096, median of %d runs\n' "$NFILES" "$(echo "$BYTES/1000000" | bc -l)" "$SIZE" "$RUNS"
printf '%-26s %8s %10s %8s %8s %10s\n' tool seconds files/s MB/s ratio peakRSS
for name in mke2fs fromdir manifest; do
  t=$(cut -d' ' -f1 "$WORK/$name.times" | median)
  rss=$(cut -d' ' -f2 "$WORK/$name.times" | sort -n | tail -1)
  label=$name; [ "$name" = mke2fs ] && label="mke2fs -d"; [ "$name" = fromdir ] && label="yoe-ext4 --from-dir"; [ "$name" = manifest ] && label="yoe-ext4 --manifest"
  printf '%-26s %8.2f %10.0f %8.1f %8.2f %8.1fMB\n' "$label" "$t" "$(echo "$NFILES/$t" | bc -l)" "$(echo "$BYTES/1000000/$t" | bc -l)" "$(echo "$t/$M" | bc -l)" "$(echo "$rss/1024" | bc -l)"
done
echo "raw times (s, KB): $(for n in mke2fs fromdir manifest; do echo -n "$n: $(tr '\n' ' ' < "$WORK/$n.times")| "; done)"
