#!/usr/bin/env bash
# run.sh BIN... -- run each libFuzzer target for FUZZ_SECONDS (default 60),
# print the executions that ran clean per target, and fail if any target
# crashed, leaked, timed out or tripped a sanitizer.  Called by `make fuzz`.
#
# Each target fuzz_<name> reads its seeds from csrc/fuzz/corpus/<name>/
# (committed, read-only here) and grows a working corpus in
# build/fuzz/corpus/<name>/ (kept between runs, never committed).  A crashing
# input is saved as build/fuzz/artifacts/<name>-crash-<sha1>; reproduce with
#   build/fuzz/fuzz_<name> build/fuzz/artifacts/<name>-crash-<sha1>
# A dictionary csrc/fuzz/<name>.dict is used when present.
set -u
secs=${FUZZ_SECONDS:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/fuzz
summary=$out/summary.txt
mkdir -p "$out/artifacts"
: >"$summary"
pass=0 fail=0 total_execs=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for bin in "$@"; do
  name=$(basename "$bin")
  short=${name#fuzz_}
  work=$out/corpus/$short
  seeds=$root/csrc/fuzz/corpus/$short
  log=$out/$name.log
  mkdir -p "$work"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$out/artifacts/$short-")
  [ -f "$root/csrc/fuzz/$short.dict" ] && args+=(-dict="$root/csrc/fuzz/$short.dict")
  dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  start=$(date +%s)
  (cd "$root" && "$bin" "${args[@]}" "${dirs[@]}") </dev/null >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  execs=${execs:-0}
  units=$(ls "$work" | wc -l)
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1))
    total_execs=$((total_execs + execs))
    line="$name: $execs executions ran clean in ${took}s (corpus $units inputs)"
  else
    fail=$((fail + 1))
    line="$name: FAILED (exit $rc) after $execs executions in ${took}s; log $log"
    echo "---- $name: last 60 lines of $log"
    tail -n 60 "$log"
    ls "$out"/artifacts/"$short"-* 2>/dev/null | sed 's/^/artifact: /'
  fi
  echo "$line"
  echo "$line" >>"$summary"
done
echo "fuzz: $total_execs executions ran clean over $pass targets, ${secs}s each" | tee -a "$summary"
echo "fuzz: $pass passed, $fail failed" | tee -a "$summary"
[ $fail -eq 0 ]
