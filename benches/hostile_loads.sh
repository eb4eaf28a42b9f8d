#!/bin/sh
# Hostile loads: every hostile input of tests/it/hostile.rs (and a few heavy legitimate
# shapes) through `yoe graph`, `yoe audit` and `yoe audit --static-only` of a release
# build, with wall time and peak RSS (GNU time's %e and %M), next to two baselines measured
# in the same run: the example project (examples/demo) and a generated legitimate 1 MB
# project (~5,000 units). Ratios are against the 1 MB project for the same verb. The target
# (policies/load.toml): any input of at most 1 MB of .star files ends within 2 s and 512 MB.
# Times are the median of RUNS (default 3) runs, RSS the largest. CI does not run this.
set -eu
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
if [ ! -x /usr/bin/time ]; then
  echo "needs GNU time: apt-get install time" >&2
  exit 1
fi
command -v perl >/dev/null || { echo "needs perl (perl-base)" >&2; exit 1; }
cargo build --release --quiet
target_dir="$(realpath "${CARGO_TARGET_DIR:-target}")"
yoe="$target_dir/release/yoe"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# project NAME: a project with a machine; then `put NAME FILE` reads the file's text on stdin.
project() {
  mkdir -p "$work/$1/machines" "$work/$1/units"
  echo 'project(name = "h", version = "1.0", defaults = defaults(machine = "m"))' >"$work/$1/PROJECT.star"
  echo 'machine(name = "m", arch = "x86_64")' >"$work/$1/machines/m.star"
}
put() { mkdir -p "$(dirname "$work/$1/$2")"; cat >"$work/$1/$2"; }
unit() { project "$1"; put "$1" units/a.star; } # NAME, text on stdin
p() { perl -e "$1"; }

# ---- baselines ----
cp -r examples/demo "$work/demo"
rm -rf "$work/demo/build"
project legit-1mb
perl -e '
  my ($dir) = @ARGV; my ($n, $size, $f, $text) = (0, 0, 0, "");
  while ($size < 1_000_000) {
    my @d = map { "\"u" . ($n - $_ * 7) . "\"" } grep { $n >= $_ * 7 } (1, 2, 3);
    my $u = "unit(name = \"u$n\", version = \"1.$n\", deps = [" . join(", ", @d) . "], tasks = [task(\"build\", steps = [\"./configure --prefix=\$PREFIX --with-x\", \"make -j\$NPROC\", \"make DESTDIR=\$DESTDIR install\"])])\n";
    $text .= $u; $size += length $u; $n++;
    if ($n % 100 == 0) { my $g = $f % 10; mkdir "$dir/units/g$g"; open my $o, ">", "$dir/units/g$g/f$f.star"; print $o $text; close $o; $text = ""; $f++; }
  }
  if ($text ne "") { mkdir "$dir/units/g0"; open my $o, ">", "$dir/units/g0/f$f.star"; print $o $text; }
' "$work/legit-1mb"

# ---- hostile inputs (each at most 1 MB of .star text unless it is about size) ----
echo 'x = [1 for a in range(1 << 20) for b in range(1 << 20)]' | unit comprehension-2^40
printf 'def spin():\n    for a in range(1 << 20):\n        for b in range(1 << 20):\n            pass\nspin()\n' | unit loop-2^40
p 'print map { "s$_ = \"a\" * (256 << 20)\n" } 0..39' | unit strings-40x256MiB
echo 'x = ("a" * 1000000).replace("", "b" * 1000000)' | unit replace-1Mx1M
echo 'x = "ab" * 2147483647' | unit repeat-2^31
echo 'x = list(range(400000000))' | unit list-400M
echo 'x = list(range(2147483647))' | unit list-2^31-panic
printf 'def f():\n    x = {}\n    for i in range(200000):\n        x = {"a": x}\n    return x\ny = f()\n' | unit deep-dict-frozen
printf 'def f():\n    x = []\n    for i in range(1000000):\n        x = [x]\n    return len(str(x))\ny = f()\n' | unit deep-list-printed
printf 'def f():\n    x = []\n    for i in range(5000):\n        x = [x]\n    unit(name = "a", deep = x)\nf()\n' | unit deep-value-to-unit
printf 'def f(n):\n    return f(n + 1)\nx = f(0)\n' | unit recursion
echo 'x = sorted([i * 7919 % 1000003 for i in range(3000000)])' | unit sort-3M
printf 'x = int("9" * 2000000)\ny = str(x * x)\n' | unit bigint-2M-digits
printf 's = "a" * 1000000\nx = [s + str(i) for i in range(1000)]\n' | unit fill-1000x1MB
project two-fillers
printf 's = "a" * 1000000\nx = [s + str(i) for i in range(1000)]\n' | put two-fillers units/a.star
cp "$work/two-fillers/units/a.star" "$work/two-fillers/units/b.star"
p 'print "x = ", "[" x 20000, "]" x 20000, "\n"' | unit brackets-20000
p 'print "x = ", "not " x 200000, "True\n"' | unit not-chain
p 'print "x = ", "-" x 500000, "1\n"' | unit minus-chain
p 'print "x = 1", " + 1" x 200000, "\n"' | unit plus-chain
p 'print "x = ", "1 if True else " x 60000, "1\n"' | unit conditional-chain
p 'print "x = struct(a = 1)", ".a" x 300000, "\n"' | unit attribute-chain
p 'print "def f(x):\n    if x == 0:\n        pass\n", map({ "    elif x == $_:\n        pass\n" } 1..25000), "f(1)\n"' | unit elif-chain
p 'print map({ " " x $_ . "def f$_():\n" } 0..1199), " " x 1200, "pass\n"' | unit nested-defs
project load-chain-10000
echo 'load("//classes/c0.star", "v")' | put load-chain-10000 units/a.star
perl -e 'my $d = shift; mkdir "$d/classes"; for my $i (0..9999) { open my $o, ">", "$d/classes/c$i.star"; print $o ($i < 9999 ? "load(\"//classes/c" . ($i + 1) . ".star\", \"v\")\n" : "v = 1\n"); }' "$work/load-chain-10000"
project fifo-load-target
echo 'load("//classes/f.star", "x")' | put fifo-load-target units/a.star
mkdir -p "$work/fifo-load-target/classes" && mkfifo "$work/fifo-load-target/classes/f.star"
p 'print "# ", "x" x (2 << 20), "\n"' | unit file-2MiB
# shell for the audit: 40 generated steps of 480 KB, braces nested 20,000 deep, and
# 1 MB of the slowest shape to parse (subshells) split in 20 steps
printf 'def mk(i):\n    unit(name = "u%%d" %% i, version = "1", tasks = [task("b", steps = ["echo x; " * 60000 + str(i)])])\n[mk(i) for i in range(40)]\n' | unit generated-steps-40x480KB
p 'print "unit(name = \"a\", version = \"1\", tasks = [task(\"b\", steps = [\"", "{ " x 20000, "x;", " }" x 20000, "\"])])\n"' | unit shell-braces-20000
p 'print "unit(name = \"a\", version = \"1\", tasks = [task(\"b\", steps = [", join(", ", map { "\"" . "(x); " x 9900 . "(y$_)\"" } 0..19), "])])\n"' | unit shell-subshells-1MB
# heavy but within the limits: a 1 MB list literal, and 10,000 one-line files
p 'print "x = [", "1, " x 330000, "1]\n"' | unit wide-list-1MB
project files-10000
perl -e 'my $d = shift; for my $i (0..9999) { open my $o, ">", "$d/units/u$i.star"; print $o "x$i = $i\n"; }' "$work/files-10000"
# past max_files: 50,000 one-line files (under 1 MB in all)
project files-50000
perl -e 'my $d = shift; for my $i (0..49999) { open my $o, ">", "$d/units/u$i.star"; print $o "x = $i\n"; }' "$work/files-50000"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# measure DIR ARGS...: "median-seconds max-RSS-MiB exit-code"
measure() {
  dir="$1"; shift
  ts=""; rss=0; code=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -o "$work/.time" -f '%e %M' "$yoe" --project "$dir" "$@" >/dev/null 2>&1 && code=0 || code=$?
    # GNU time puts "Command exited with non-zero status N" first when N != 0.
    last=$(tail -n 1 "$work/.time")
    ts="$ts ${last%% *}"
    kb=${last##* }
    [ "$kb" -gt "$rss" ] && rss=$kb
  done
  printf '%s %s %s' "$(echo $ts | tr ' ' '\n' | median)" "$((rss / 1024))" "$code"
}

row() { # NAME
  name="$1"; printf '%-22s' "$name"
  i=0
  for v in graph audit "audit --static-only"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    r=$(measure "$work/$name" $v)
    t=$(echo "$r" | cut -d' ' -f1); m=$(echo "$r" | cut -d' ' -f2); c=$(echo "$r" | cut -d' ' -f3)
    if [ "$name" = legit-1mb ]; then eval "bt$i=$t; bm$i=$m"; fi
    eval "b_t=\${bt$i}; b_m=\${bm$i}"
    rt=$(echo "$t $b_t" | awk '{ printf "%.1f", ($2 > 0 ? $1 / $2 : 0) }')
    rm_=$(echo "$m $b_m" | awk '{ printf "%.1f", ($2 > 0 ? $1 / $2 : 0) }')
    printf ' | rc %-9s %5s %4s %5s %5s' "$c" "$t" "$m" "$rt" "$rm_"
  done
  printf '\n'
}
echo "$("$yoe" version 2>/dev/null | head -n 1), $(nproc) cores, median of $RUNS runs"
printf '%-22s' "input"
for v in graph audit audit-static; do printf ' | %-12s %5s %4s %5s %5s' "$v" "s" "MiB" "x t" "x mem"; done
printf '\n'
row legit-1mb
row demo
for d in "$work"/*/; do
  n=$(basename "$d")
  case "$n" in legit-1mb | demo) continue ;; esac
  row "$n"
done
echo "x t, x mem: ratio to legit-1mb in the same verb. rc: exit code (0 ok, 1 load error, 11-14 audit findings)."
