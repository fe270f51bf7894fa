#!/usr/bin/env bash
# An agile classifier end to end: train a LoRA adapter on examples/safety/agile_train.jsonl (does a
# message ask for someone's personal data? unsafe / safe), then classify the held-out texts and
# print each prediction beside its true label, and the held-out F1 / ROC-AUC before and after.
# Usage: examples/safety/agile_train_then_classify.sh [OUT_DIR] [extra safety train flags…]
# (Gemma 3 270M by default; on a 2-core lavapipe machine 30 steps took ~20 minutes.)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-agile-adapter}
shift || true
"$root/deno" task -q gemma safety train --data "$root/examples/safety/agile_train.jsonl" \
  --labels safe,unsafe --adapter-path "$out" --iters 30 --batch-size 4 --learning-rate 1e-3 "$@"
"$root/deno" task -q gemma safety classify --adapter "$out" --jsonl \
  < "$root/examples/safety/agile_heldout.jsonl" |
  "$root/deno" eval -q '
    const lines = (await new Response(Deno.stdin.readable).text()).trim().split("\n");
    for (const line of lines) {
      const r = JSON.parse(line);
      const p = r.agile.probabilities.unsafe.toFixed(3);
      console.log(`${r.agile.label === r.label ? "right" : "WRONG"} P(unsafe) ${p}  ${r.text}`);
    }'
"$root/deno" run -A "$root/tools/agile_eval.ts" --adapter "$out" \
  --data "$root/examples/safety/agile_heldout.jsonl"
