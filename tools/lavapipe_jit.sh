#!/usr/bin/env bash
# What lavapipe's JIT made of a kernel (a development tool): runs a command, samples it with perf
# once its shaders are compiled and running, dumps the executable anonymous mapping that holds the
# hottest sampled address (lavapipe's LLVM-compiled code), and prints the instructions around the
# hottest one with their sample shares, and how many of the mapping's instructions are vector
# gathers. For example, whether a storage-buffer load became a masked gather or a per-lane loop:
#   bash tools/lavapipe_jit.sh [--wait 12] [--seconds 4] [--out /tmp/jit] -- COMMAND ...
#   env $(bash tools/setup_mesa25.sh --print-env) bash tools/lavapipe_jit.sh -- ./deno run -A x.ts
# The command must run longer than --wait + --seconds. --pid-of PATTERN samples, instead of the
# command itself, the newest of its descendant processes whose command line matches PATTERN
# (node-llama-cpp runs llama.cpp in a child process: --pid-of tests/llama/llama.mjs). Needs
# perf, objdump and python3.
set -euo pipefail
wait_s=12
seconds=4
out=/tmp/jit
pid_of=""
while [ $# -gt 0 ]; do
  case "$1" in
  --wait | --seconds | --out | --pid-of)
    [ $# -ge 2 ] || { echo "lavapipe_jit: $1 needs a value" >&2 && exit 1; }
    case "$1" in
    --wait) wait_s=$2 ;; --seconds) seconds=$2 ;; --out) out=$2 ;; --pid-of) pid_of=$2 ;;
    esac
    shift 2
    ;;
  --) shift && break ;;
  *) echo "lavapipe_jit: unknown argument \"$1\" (usage: see the header)" >&2 && exit 1 ;;
  esac
done
[ $# -gt 0 ] || { echo "lavapipe_jit: no command after --" >&2 && exit 1; }
for tool in perf objdump python3; do
  command -v "$tool" >/dev/null || { echo "lavapipe_jit: $tool is required" >&2 && exit 1; }
done
mkdir -p "$out"
"$@" >"$out/command.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep "$wait_s"
kill -0 $pid 2>/dev/null || { echo "lavapipe_jit: the command ended within --wait ($out/command.log)" >&2 && exit 1; }
target=$pid
if [ -n "$pid_of" ]; then
  # The newest matching process that descends from the command (this script's own command line
  # holds the pattern too).
  target=""
  for candidate in $(pgrep -f -- "$pid_of" || true); do
    up=$candidate
    while [ "$up" -gt 1 ] && [ "$up" != "$pid" ]; do
      up=$(ps -o ppid= -p "$up" 2>/dev/null | tr -d ' ') || break
      [ -n "$up" ] || break
    done
    [ "$up" = "$pid" ] && target=$candidate
  done
  [ -n "$target" ] || { echo "lavapipe_jit: no process of the command matches \"$pid_of\"" >&2 && exit 1; }
fi
# perf's status is not telling when the process ends under it; what follows needs it alive (its
# code is read from its memory).
perf record -F 1999 -p "$target" -o "$out/perf.data" -- sleep "$seconds" >"$out/perf.log" 2>&1 || true
kill -0 "$target" 2>/dev/null ||
  { echo "lavapipe_jit: the process ended while sampled: make it run longer ($out/perf.log)" >&2 && exit 1; }
[ -s "$out/perf.data" ] || { echo "lavapipe_jit: perf recorded nothing ($out/perf.log)" >&2 && exit 1; }
perf report -i "$out/perf.data" --no-children --sort sym 2>/dev/null | { grep "%" | grep -v "^#" || true; } >"$out/samples.txt"
python3 - "$target" "$out" <<'PY'
import re, subprocess, sys
pid, out = sys.argv[1], sys.argv[2]
hot = {}
for line in open(f"{out}/samples.txt"):
    m = re.search(r"([\d.]+)%.*\b0x([0-9a-f]+)", line)
    if m:
        hot[int(m.group(2), 16)] = float(m.group(1))
if not hot:
    sys.exit("lavapipe_jit: no samples in anonymous code (is the command running shaders?)")
top = max(hot, key=hot.get)
for line in open(f"/proc/{pid}/maps"):
    start, end = (int(v, 16) for v in line.split()[0].split("-"))
    if start <= top < end:
        break
else:
    sys.exit("lavapipe_jit: the hottest address is in no mapping")
with open(f"/proc/{pid}/mem", "rb") as mem:
    mem.seek(start)
    open(f"{out}/code.bin", "wb").write(mem.read(end - start))
asm = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64",
                      f"--adjust-vma={start:#x}", f"{out}/code.bin"],
                     capture_output=True, text=True, check=True).stdout
open(f"{out}/code.asm", "w").write(asm)
ins = []
for line in asm.splitlines():
    m = re.match(r"\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(\S+)\s*(.*)", line)
    if m:
        ins.append((int(m.group(1), 16), m.group(2), m.group(3)))
share = sum(s for a, s in hot.items() if start <= a < end)
gathers = sum(1 for _, op, _ in ins if "gather" in op)
print(f"mapping {start:#x}-{end:#x}: {share:.1f}% of the samples, {len(ins)} instructions, "
      f"{gathers} gathers; dump in {out}/code.asm")
at = next(i for i, (a, _, _) in enumerate(ins) if a >= top)
for a, op, args in ins[max(0, at - 40):at + 20]:
    s = hot.get(a)
    print(f"{s:6.2f}%" if s else "       ", f"{a:x}", op, args[:72])
PY
