#!/usr/bin/env bash
# Prints the path of the pinned Deno binary from the npm package "deno": its install script puts
# it at node_modules/deno/deno; where install scripts did not run, the platform package has it.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for candidate in "$root"/node_modules/deno/deno "$root"/node_modules/@deno/*/deno; do
  if [ -x "$candidate" ] && [ "$(head -c 4 "$candidate" | od -An -c | tr -d ' ')" != '#!' ]; then
    echo "$candidate"
    exit 0
  fi
done
echo "$root/node_modules/deno/deno"
