// `gemma finetune-lora`'s extras end to end on a tiny checkpoint: --lora-dropout (written to
// adapter_config.json, the same losses after --resume), --config FILE (YAML or JSON, the command
// line wins, unknown keys fail in one line), test.jsonl scored at the end, and the progress bar
// on a terminal (none in --json or when stderr is not a terminal).

import assert from "node:assert/strict";
import { buildTinyModel } from "./fixtures.ts";
import { duration, progressBarText } from "../cli/train_progress.ts";

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE_DATA = new URL("../examples/finetune", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const RUN_ARGS = ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run", MAIN];

async function gemma(args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...RUN_ARGS, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

function assertOneLineError(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 1, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], pattern);
}

const jsonLines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l));

const dir = await Deno.makeTempDir({ prefix: "gemma-finetune-extras-" });
const model = `${dir}/model`;
await buildTinyModel(model, {
  modelType: "gemma3_text",
  slidingWindow: 8,
  slidingWindowPattern: 2,
  vocabSize: 262144,
  seed: 3,
});
// The example set with a test split (the last four validation items).
const data = `${dir}/data`;
await Deno.mkdir(data);
await Deno.copyFile(`${EXAMPLE_DATA}/train.jsonl`, `${data}/train.jsonl`);
const valid = (await Deno.readTextFile(`${EXAMPLE_DATA}/valid.jsonl`)).trim().split("\n");
await Deno.writeTextFile(`${data}/valid.jsonl`, valid.slice(0, 4).join("\n") + "\n");
await Deno.writeTextFile(`${data}/test.jsonl`, valid.slice(4).join("\n") + "\n");

const TRAIN = [
  "finetune-lora",
  "--model",
  model,
  "--data",
  data,
  "--iters",
  "4",
  "--batch-size",
  "2",
  "--steps-per-report",
  "2",
  "--steps-per-eval",
  "2",
  "--learning-rate",
  "5e-2",
  "--lora-rank",
  "4",
  "--mask-prompt",
  "--seed",
  "1",
  "--json",
];

Deno.test("finetune-lora --lora-dropout: in the adapter config, changes training, resumes exactly; test.jsonl scored", async () => {
  const out = `${dir}/dropout`;
  const run = await gemma([...TRAIN, "--lora-dropout", "0.25", "--adapter-path", out]);
  assert.equal(run.code, 0, run.stderr);
  const reports = jsonLines(run.stdout);
  assert.deepEqual(reports.map((r) => r.iteration), [0, 2, 4, 4]);
  for (const r of reports) assert.ok(r.peak_memory_gb > 0.01, JSON.stringify(r));
  const test = reports.at(-1)!;
  assert.ok(Number.isFinite(test.test_loss) && test.test_loss > 0, JSON.stringify(test));
  assert.ok(
    Math.abs(test.test_perplexity - Math.exp(test.test_loss)) < 1e-9 * test.test_perplexity,
  );
  const config = JSON.parse(await Deno.readTextFile(`${out}/adapter_config.json`));
  assert.equal(config.lora_dropout, 0.25);

  const plain = await gemma([...TRAIN, "--adapter-path", `${dir}/plain`]);
  assert.equal(plain.code, 0, plain.stderr);
  const plainReports = jsonLines(plain.stdout);
  // Step 0's validation has no dropout; the first step's training does.
  assert.equal(plainReports[0].val_loss, reports[0].val_loss);
  assert.notEqual(plainReports[1].train_loss, reports[1].train_loss);

  // Stopped after step 2 and resumed: the same masks, so the same losses and adapter.
  const split = `${dir}/dropout-split`;
  const half = await gemma([
    ...TRAIN,
    "--lora-dropout",
    "0.25",
    "--adapter-path",
    split,
    "--iters",
    "2",
  ]);
  assert.equal(half.code, 0, half.stderr);
  const rest = await gemma([...TRAIN, "--adapter-path", split, "--resume"]);
  assert.equal(rest.code, 0, rest.stderr);
  const resumed = jsonLines(rest.stdout);
  assert.equal(resumed[0].train_loss, reports[2].train_loss);
  assert.equal(resumed[0].val_loss, reports[2].val_loss);
  assert.equal(resumed[1].test_loss, test.test_loss);
  assert.deepEqual(
    await Deno.readFile(`${split}/adapter_model.safetensors`),
    await Deno.readFile(`${out}/adapter_model.safetensors`),
  );
});

Deno.test("finetune-lora --config: YAML and JSON keys, the command line wins, bad keys fail", async () => {
  const yaml = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    yaml,
    [
      `model: ${model}`,
      `data: ${data}`,
      "iters: 1",
      "lora_rank: 2",
      "lora-alpha: 6",
      "lora_modules: [q_proj, v_proj]",
      "lora_dropout: 0.1",
      "mask_prompt: true",
      "steps_per_eval: 100",
      "json: true",
    ].join("\n") + "\n",
  );
  const out = `${dir}/from-config`;
  const run = await gemma([
    "finetune-lora",
    "--config",
    yaml,
    "--lora-rank",
    "3",
    "--adapter-path",
    out,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const config = JSON.parse(await Deno.readTextFile(`${out}/adapter_config.json`));
  assert.equal(config.r, 3, "the command line's --lora-rank wins");
  assert.equal(config.lora_alpha, 6);
  assert.equal(config.lora_dropout, 0.1);
  assert.deepEqual(config.target_modules, ["q_proj", "v_proj"]);
  assert.ok(jsonLines(run.stdout).length >= 1, "json: true gives JSON reports");

  const json = `${dir}/config.json`;
  await Deno.writeTextFile(
    json,
    JSON.stringify({ model, data, iters: 1, "lora-rank": 5, json: true, "lora_modules": "o_proj" }),
  );
  const fromJson = await gemma(["finetune-lora", "--config", json, "--adapter-path", out]);
  assert.equal(fromJson.code, 0, fromJson.stderr);
  const second = JSON.parse(await Deno.readTextFile(`${out}/adapter_config.json`));
  assert.equal(second.r, 5);
  assert.deepEqual(second.target_modules, ["o_proj"]);

  const bad = async (text: string, pattern: RegExp) => {
    await Deno.writeTextFile(`${dir}/bad.yaml`, text);
    assertOneLineError(await gemma(["finetune-lora", "--config", `${dir}/bad.yaml`]), pattern);
  };
  await bad(`data: ${data}\nlora_rnak: 4\n`, /unknown key "lora_rnak"/);
  await bad(`data: ${data}\nlora_rank: zero\n`, /--lora-rank must be an integer/);
  await bad(`data: ${data}\nmask_prompt: 3\n`, /"mask-prompt" must be true or false/);
  await bad(`data: ${data}\nconfig: other.yaml\n`, /unknown key "config"/);
  await bad("- a list\n", /expected a mapping/);
  await bad("lora_rank: 4\n", /--data/);
  assertOneLineError(
    await gemma(["finetune-lora", "--config", `${dir}/missing.yaml`]),
    /--config .*missing\.yaml: not found/,
  );
  assertOneLineError(
    await gemma(["finetune-lora", "--data", data, "--lora-dropout", "1"]),
    /--lora-dropout must be in \[0, 1\)/,
  );
});

Deno.test("finetune-lora: a progress bar with ETA on a terminal, plain lines otherwise", async () => {
  const args = TRAIN.filter((a) => a !== "--json");
  const command = [Deno.execPath(), ...RUN_ARGS, ...args, "--adapter-path", `${dir}/tty`]
    .map((a) => `'${a}'`).join(" ");
  // script(1) runs the command on a pseudo-terminal: stderr is a TTY there.
  const tty = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(tty.stdout);
  assert.equal(tty.code, 0, text);
  // deno-lint-ignore no-control-regex -- the bar redraws its line with CR and "erase line"
  assert.match(text, /\r\x1b\[K\[#+-*\] \d\/4 steps, loss \d+\.\d{3}, \d+\.\d s\/step, ETA \d+s/);
  assert.match(text, /\[#{24}\] 4\/4 steps/);
  // Not a terminal: report lines only, no bar.
  const piped = await gemma([...args, "--adapter-path", `${dir}/piped`]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.doesNotMatch(piped.stderr, /steps, /);
  assert.ok(!piped.stderr.includes("\x1b"), "no terminal escapes");
  assert.match(piped.stderr, /^iter 2, train loss \d/m);
  assert.match(piped.stderr, /test loss \d+\.\d+, test perplexity \d/);
});

Deno.test("progressBarText and duration", () => {
  assert.equal(progressBarText(0, 10, undefined, undefined, 10), "[----------] 0/10 steps");
  assert.equal(
    progressBarText(5, 10, 2, 1.23456, 10),
    "[#####-----] 5/10 steps, loss 1.235, 2.0 s/step, ETA 10s",
  );
  assert.equal(duration(3725), "1h2m5s");
  assert.equal(duration(95), "1m35s");
  assert.equal(duration(7), "7s");
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
