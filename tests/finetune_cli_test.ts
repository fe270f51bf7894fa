// `gemma finetune-lora` end to end on a tiny checkpoint: reports, a PEFT adapter folder that
// `generate --adapter` loads, the same losses from the same seed, and one-line errors for bad
// data, bad flags and an adapter made for another model.

import assert from "node:assert/strict";
import { readSafetensorsHeader } from "../core/safetensors.ts";
import { buildTinyModel } from "./fixtures.ts";
import { assertCleanFailure, gemma, killAfter } from "./cli_run.ts";
import { loadTrainingState, TRAINING_STATE } from "../core/mod.ts";

const EXAMPLE_DATA = new URL("../examples/finetune", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "gemma-finetune-" });
const model = `${dir}/model`;
const other = `${dir}/other`;
const family = { modelType: "gemma3_text", slidingWindow: 8, slidingWindowPattern: 2 } as const;
await buildTinyModel(model, { ...family, vocabSize: 262144, seed: 3 });
await buildTinyModel(other, { ...family, vocabSize: 262144, hiddenSize: 32, seed: 4 });

const TRAIN = [
  "finetune-lora",
  "--model",
  model,
  "--data",
  EXAMPLE_DATA,
  "--iters",
  "4",
  "--batch-size",
  "2",
  "--steps-per-report",
  "2",
  "--steps-per-eval",
  "2",
  "--val-batches",
  "1",
  "--learning-rate",
  "5e-2",
  "--lora-rank",
  "4",
  "--mask-prompt",
  "--json",
];

Deno.test("finetune-lora: a run killed after a checkpoint resumes with the same reports", async () => {
  // Reports every 2 steps, a checkpoint every 3: the first report after the resume (step 4) also
  // averages step 3, taken before the kill.
  const run = (adapter: string, ...more: string[]) => [
    ...TRAIN,
    ...["--iters", "6", "--save-every", "3", "--seed", "1", "--adapter-path", adapter, ...more],
  ];
  const reports = (stdout: string) =>
    stdout.trim().split("\n").map((l) => JSON.parse(l)).map((r) => [
      r.iteration,
      r.train_loss,
      r.val_loss,
    ]);
  const whole = await gemma(run(`${dir}/resume-whole`));
  assert.equal(whole.code, 0, whole.stderr);
  const split = `${dir}/resume-split`;
  await killAfter(run(split), 4);
  const { progress } = await loadTrainingState(`${split}/${TRAINING_STATE}`);
  assert.equal(progress.step, 3, "the kill comes before the next checkpoint, at step 6");
  // A flag that shapes the run, set to another value, is refused, the state left as it was.
  assertCleanFailure(
    await gemma(run(split, "--resume", "--learning-rate", "1e-3", "--lora-rank", "8")),
    1,
    /--resume: the run was started with --lora-rank 4 \(not 8\), --learning-rate 0.05 \(not 0.001\)/,
  );
  // Resumed with only what says where it is and how to report: the rest is the run's own.
  const resumed = await gemma([
    "finetune-lora",
    ...["--model", model, "--data", EXAMPLE_DATA, "--adapter-path", split, "--resume"],
    ...["--steps-per-report", "2", "--steps-per-eval", "2", "--val-batches", "1", "--json"],
  ]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const later = reports(whole.stdout).filter(([iteration]) => iteration > 3);
  assert.deepEqual(later.map(([iteration]) => iteration), [4, 6]);
  assert.deepEqual(reports(resumed.stdout), later);
});

Deno.test("finetune-lora: reports, a PEFT adapter, the same losses from the same seed", async () => {
  const adapter = `${dir}/adapter`;
  const gguf = `${dir}/adapter.gguf`;
  const run = await gemma([...TRAIN, "--adapter-path", adapter, "--seed", "1", "--gguf", gguf]);
  assert.equal(run.code, 0, run.stderr);
  const magic = (await Deno.readFile(gguf)).subarray(0, 4);
  assert.equal(new TextDecoder().decode(magic), "GGUF");
  const reports = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(reports.map((r) => r.iteration), [0, 2, 4]);
  for (const r of reports.slice(1)) {
    assert.ok(r.peak_memory_gb > 0.01 && r.peak_memory_gb < 1, `memory ${r.peak_memory_gb} GB`);
    for (const key of ["train_loss", "val_loss", "learning_rate", "tokens_per_second"]) {
      assert.ok(Number.isFinite(r[key]), `${key} in ${JSON.stringify(r)}`);
    }
  }
  const config = JSON.parse(await Deno.readTextFile(`${adapter}/adapter_config.json`));
  assert.equal(config.peft_type, "LORA");
  assert.equal(config.task_type, "CAUSAL_LM");
  assert.equal(config.r, 4);
  assert.equal(config.lora_alpha, 16);
  assert.equal(config.base_model_name_or_path, model);
  assert.deepEqual(config.target_modules, [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
  ]);
  const tensors = await readSafetensorsHeader(`${adapter}/adapter_model.safetensors`);
  const byName = new Map(tensors.map((t) => [t.name, t.shape]));
  assert.equal(tensors.length, 2 * 7 * 2);
  assert.deepEqual(byName.get("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"), [
    4,
    64,
  ]);
  assert.deepEqual(byName.get("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"), [
    64,
    4,
  ]);
  assert.deepEqual(byName.get("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"), [
    4,
    128,
  ]);

  const again = await gemma([...TRAIN, "--adapter-path", `${dir}/again`, "--seed", "1"]);
  const losses = (text: string) =>
    text.trim().split("\n").map((l) => JSON.parse(l)).map((r) => [r.train_loss, r.val_loss]);
  assert.deepEqual(losses(again.stdout), losses(run.stdout), "same seed, same losses");

  // Stopped after step 2 and resumed: steps 3 and 4 give the same losses and the same adapter.
  const split = `${dir}/split`;
  const half = await gemma([...TRAIN, "--adapter-path", split, "--seed", "1", "--iters", "2"]);
  assert.equal(half.code, 0, half.stderr);
  const rest = await gemma([...TRAIN, "--adapter-path", split, "--resume"]);
  assert.equal(rest.code, 0, rest.stderr);
  const resumed = rest.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(resumed.map((r) => r.iteration), [4]);
  assert.equal(resumed[0].train_loss, reports[2].train_loss);
  assert.equal(resumed[0].val_loss, reports[2].val_loss);
  assert.deepEqual(
    await Deno.readFile(`${split}/adapter_model.safetensors`),
    await Deno.readFile(`${adapter}/adapter_model.safetensors`),
    "the resumed adapter equals the uninterrupted one",
  );

  // generate --adapter: scale 0 is the base model; the trained adapter changes the text.
  const prompt = ["--temperature", "0", "-n", "12", "Encode the word: apple"];
  const base = await gemma(["generate", "--model", model, ...prompt]);
  const zero = await gemma([
    "generate",
    "--model",
    model,
    "--adapter",
    adapter,
    "--adapter-scale",
    "0",
    ...prompt,
  ]);
  const tuned = await gemma(["generate", "--model", model, "--adapter", adapter, ...prompt]);
  for (const r of [base, zero, tuned]) assert.equal(r.code, 0, r.stderr);
  assert.equal(zero.stdout, base.stdout);
  assert.notEqual(tuned.stdout, base.stdout);

  // The adapter on a model of another shape: one line naming the mismatch.
  assertCleanFailure(
    await gemma(["generate", "--model", other, "--adapter", adapter, "-n", "2", "hi"]),
    1,
    /has shape \[4,64\], expected \[4,32\]/,
  );
});

Deno.test("finetune-lora: bad input fails with one line", async () => {
  const data = `${dir}/data`;
  await Deno.mkdir(data, { recursive: true });
  const train = (args: string[] = []) =>
    gemma(["finetune-lora", "--model", model, "--data", data, "--iters", "1", ...args]);
  assertCleanFailure(await train(), 1, /train\.jsonl: not found/);
  await Deno.writeTextFile(`${data}/train.jsonl`, '{"text": "hello"}\n{"text": oops}\n');
  assertCleanFailure(await train(), 1, /train\.jsonl:2: not JSON/);
  await Deno.writeTextFile(
    `${data}/train.jsonl`,
    '{"text": "hello"}\n{"prompt": "a", "completion": "b"}\n',
  );
  assertCleanFailure(await train(), 1, /train\.jsonl:2: a completions line in a text file/);
  await Deno.writeTextFile(`${data}/train.jsonl`, '{"text": 5}\n');
  assertCleanFailure(await train(), 1, /train\.jsonl:1: field "text" must be a string/);
  await Deno.writeTextFile(
    `${data}/train.jsonl`,
    '{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}\n',
  );
  assertCleanFailure(await train(), 1, /train\.jsonl:1: .*alternate/);
  await Deno.writeTextFile(`${data}/train.jsonl`, "\n\n");
  assertCleanFailure(await train(), 1, /train\.jsonl: no examples/);
  await Deno.writeTextFile(
    `${data}/train.jsonl`,
    '{"prompt": "a long prompt of many words", "completion": "b"}\n',
  );
  assertCleanFailure(
    await train(["--mask-prompt", "--max-seq-length", "4"]),
    1,
    /nothing to train on/,
  );
  assertCleanFailure(
    await train(["--lora-modules", "q_proj,lm_head"]),
    1,
    /unknown LoRA module "lm_head"/,
  );
  assertCleanFailure(await train(["--lr-schedule", "step"]), 1, /--lr-schedule must be/);
  assertCleanFailure(
    await train(["--resume", "--adapter-path", `${dir}/none`]),
    1,
    /--resume: nothing to resume/,
  );
});

Deno.test("finetune-lora: a loss that turns NaN stops the run and keeps the last good adapter", async () => {
  const out = `${dir}/nan`;
  const run = await gemma([
    ...TRAIN.slice(0, TRAIN.indexOf("--json")),
    "--learning-rate",
    "1e6",
    "--max-grad-norm",
    "0",
    "--save-every",
    "1",
    "--iters",
    "8",
    "--adapter-path",
    out,
  ]);
  assert.equal(run.code, 2, run.stderr);
  const last = run.stderr.trim().split("\n").at(-1)!;
  const match = /^error: the loss became NaN after step (\d+); the adapter of step (\d+) is kept/
    .exec(last);
  assert.ok(match, last);
  assert.equal(Number(match[2]), Number(match[1]) - 1);
  await Deno.stat(`${out}/adapter_model.safetensors`);
});

globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});
