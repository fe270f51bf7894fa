#!/usr/bin/env bash
# A small guarded pipeline: redact PII from each JSONL line, then score the redacted text against
# the four harm policies, and print the lines whose highest P(Yes) reaches the threshold.
# Usage: examples/safety/redact_then_classify.sh [--model PATH] < examples/safety/pii_input.jsonl
# (For meaningful scores pass a ShieldGemma checkpoint, e.g. --model ./shieldgemma-2b.)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/deno" task -q gemma safety pii --jsonl |
  "$root/deno" task -q gemma safety classify --jsonl --threshold 0.5 "$@" |
  while IFS= read -r line; do
    echo "$line" | "$root/deno" eval -q '
      const r = JSON.parse(await new Response(Deno.stdin.readable).text());
      const top = r.safety.policies.reduce((a, b) => (b.p_yes > a.p_yes ? b : a));
      console.log(`${r.safety.violation ? "BLOCK" : "ok   "} ${top.name} ${top.p_yes.toFixed(3)}  ${r.text}`);'
  done
