#!/usr/bin/env bash
# Answers every prompt of a JSONL file, one JSON object per line, and prints the texts with jq-free
# plain shell. Usage: examples/batch_jsonl.sh [--model DIR] < examples/prompts.jsonl
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deno" task -q gemma generate --jsonl --temperature 0 -n 16 "$@" |
  while IFS= read -r line; do
    echo "$line" | "$root/deno" eval -q \
      'const r = JSON.parse(await new Response(Deno.stdin.readable).text()); console.log(`[${r.finish_reason}] ${JSON.stringify(r.text)}`)'
  done
