// The real program in tests: `gemma args…` spawned as `deno task gemma` runs it (its permissions,
// no network), and the check that a bad input fails cleanly.

import assert from "node:assert/strict";

export const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;
export const ROOT = new URL("..", import.meta.url).pathname;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `gemma args…` with `stdin` and extra `env`; resolves when it exits. */
export async function gemma(
  args: string[],
  stdin: string | Uint8Array = "",
  env: Record<string, string> = {},
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run", MAIN, ...args],
    cwd: ROOT,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
  await writer.close();
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** A bad input must fail with `code`, one line on stderr (notes aside), no stack trace. */
export function assertCleanFailure(run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.trim().split("\n").filter((l) => !l.startsWith("note:"));
  assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
}

/**
 * Runs `gemma args…` (a training run with --json) and kills it (SIGKILL) once it has reported an
 * iteration ≥ `after`; returns what it printed by then.
 */
export async function killAfter(args: string[], after: number): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run", MAIN, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let printed = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    printed += decoder.decode(chunk, { stream: true });
    const iterations = printed.split("\n").slice(0, -1).map((l) => JSON.parse(l).iteration);
    if (iterations.some((i) => i >= after)) {
      child.kill("SIGKILL");
      break;
    }
  }
  await child.status;
  return printed;
}

/**
 * Runs `gemma args…` (an eval) with --output and --log-samples files named `name` in `dir`, checks
 * it succeeded, and returns the results JSON, the sample lines (parsed) and the run.
 */
export async function evalWithOutputs(args: string[], dir: string, name: string) {
  const output = `${dir}/${name}.json`;
  const samples = `${dir}/${name}.jsonl`;
  const run = await gemma([...args, "--output", output, "--log-samples", samples]);
  assert.equal(run.code, 0, run.stderr);
  const json = JSON.parse(await Deno.readTextFile(output));
  const lines = (await Deno.readTextFile(samples)).trim().split("\n").map((l) => JSON.parse(l));
  return { json, samples: lines, run };
}
