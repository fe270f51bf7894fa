// `gemma finetune-lora --help` and `gemma safety train --help` list every training option the two
// commands share (cli/train_options.ts), each with its own command's default.

import assert from "node:assert/strict";
import { gemma } from "./cli_run.ts";

/** flag → its help entry (the text after the flag, lines joined), from commander's help. */
async function helpEntries(command: string[]): Promise<Map<string, string>> {
  const run = await gemma([...command, "--help"]);
  assert.equal(run.code, 0, run.stderr);
  const entries = new Map<string, string>();
  let last = "";
  for (const line of run.stdout.split("\n")) {
    const flag = line.match(/^\s+(?:-\w, )?(--[\w-]+)/);
    if (flag) entries.set(last = flag[1], line.trim());
    else if (last && /^\s{10,}\S/.test(line)) {
      entries.set(last, `${entries.get(last)} ${line.trim()}`);
    }
  }
  return entries;
}

const SHARED = [
  "--model",
  "--dtype",
  "--quant",
  "--iters",
  "--batch-size",
  "--learning-rate",
  "--lora-rank",
  "--lora-alpha",
  "--lora-modules",
  "--adapter-path",
  "--steps-per-report",
  "--steps-per-eval",
  "--save-every",
  "--seed",
  "--resume",
  "--json",
  "--quiet",
];

Deno.test("finetune-lora and safety train list the shared training options, own defaults", async () => {
  const finetune = await helpEntries(["finetune-lora"]);
  const agile = await helpEntries(["safety", "train"]);
  for (const flag of SHARED) {
    assert.ok(finetune.has(flag), `finetune-lora --help lacks ${flag}`);
    assert.ok(agile.has(flag), `safety train --help lacks ${flag}`);
  }
  const defaults = (entries: Map<string, string>, flags: string[]) =>
    flags.map((f) => entries.get(f)!.match(/\(default: ([^)]*)\)/)?.[1]);
  const differing = [
    "--iters",
    "--learning-rate",
    "--lora-rank",
    "--lora-alpha",
    "--steps-per-eval",
  ];
  assert.deepEqual(defaults(finetune, differing), ["1000", "0.0001", "8", "16", "200"]);
  assert.deepEqual(defaults(agile, differing), ["200", "0.001", "4", "4", "50"]);
  // Options of one command only stay there.
  for (const flag of ["--data", "--grad-accumulation", "--lora-dropout", "--gguf"]) {
    assert.ok(finetune.has(flag), flag);
  }
  for (const flag of ["--labels", "--valid-fraction"]) assert.ok(agile.has(flag), flag);
  assert.ok(!agile.has("--grad-accumulation") && !finetune.has("--labels"));
});
