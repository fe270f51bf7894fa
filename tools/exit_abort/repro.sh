#!/usr/bin/env bash
# Deno's test runner sometimes aborts while the process exits, after every test passed and the
# summary is printed, once a test module has used WebGPU on lavapipe: glibc reports a corrupted
# heap ("double free or corruption (fasttop)", "corrupted size vs. prev_size in fastbins") and the
# exit status is 134 (SIGABRT). This runs a test that only asks for an adapter RUNS times (default
# 50) and counts the aborts; `deno run` of the same code never aborted (0 of 120 here). Measured
# with Deno 2.9.6 and Mesa 22.3.6: 1–5 aborts in 50. .ci/run reports such an abort (see there).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deno=$(bash tools/deno_path.sh)
runs=${RUNS:-50}
aborts=0
for _ in $(seq 1 "$runs"); do
  "$deno" test -A tools/exit_abort/adapter_probe.ts >/dev/null 2>&1
  [ $? -eq 134 ] && aborts=$((aborts + 1))
done
echo "$aborts of $runs test processes aborted at exit"
