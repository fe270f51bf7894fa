// `gemma finetune-lora`: trains a LoRA adapter on a jsonl folder (mlx-lm's layout) and writes it
// as a PEFT adapter folder. Reports iteration, train loss, validation loss, learning rate,
// tokens/s and GPU memory on stderr (or JSON lines on stdout with --json), with a progress bar on
// a terminal; scores test.jsonl at the end. `--config FILE` sets any flag from YAML or JSON.

import { Command } from "commander";
import {
  batches,
  type Dataset,
  initLora,
  loadDataset,
  loadTrainingState,
  LoraTrainer,
  packedRows,
  parseLoraModules,
  saveTrainingState,
  TrainError,
  type TrainExample,
  TRAINING_STATE,
  type TrainingProgress,
  writeLoraGguf,
  writePeftAdapter,
} from "../core/mod.ts";
import { ExitStatus, parseInteger, parseNumber, UsageError } from "./common.ts";
import { applyOptionFile } from "./option_file.ts";
import { trainingProgressBar } from "./train_progress.ts";
import { loadModel } from "./model_source.ts";
import { trainingOptions, type TrainingOptionSpec } from "./train_options.ts";

interface FinetuneFlags {
  model?: string;
  dtype?: string;
  quant?: string;
  config?: string;
  data?: string;
  iters: number;
  batchSize: number;
  gradAccumulation: number;
  learningRate: number;
  lrSchedule: string;
  warmup: number;
  loraRank: number;
  loraAlpha: number;
  loraModules: string;
  loraDropout: number;
  rslora?: boolean;
  adapterPath: string;
  stepsPerReport: number;
  stepsPerEval: number;
  valBatches: number;
  saveEvery: number;
  seed: number;
  maskPrompt?: boolean;
  maxSeqLength: number;
  maxGradNorm: number;
  weightDecay: number;
  json?: boolean;
  quiet?: boolean;
  resume?: boolean;
  gguf?: string;
}

const FINETUNE_DEFAULTS: TrainingOptionSpec = {
  iters: 1000,
  batchOf: "sequences",
  batchSize: 4,
  learningRate: 1e-4,
  loraRank: 8,
  loraAlpha: 16,
  adapterPath: { help: "where the PEFT adapter folder is written", default: "adapters" },
  evalReports: "validation loss",
  stepsPerEval: 200,
  saveEvery: { help: "write the adapter every n steps", default: 100 },
  seedHelp: "seed of the adapter's init and the batch order",
};

export function finetuneLoraCommand(): Command {
  const options = trainingOptions(FINETUNE_DEFAULTS);
  return new Command("finetune-lora")
    .alias("finetune")
    .description(
      "Fine-tune a LoRA adapter on a jsonl folder (train.jsonl, valid.jsonl, test.jsonl)",
    )
    .option("--config <file>", "YAML or JSON file of flags (lora_rank: 16); the command line wins")
    .addOption(options.model)
    .addOption(options.dtype)
    .addOption(options.quant)
    .option("--data <dir>", "folder with train.jsonl and optional valid.jsonl, test.jsonl")
    .addOption(options.iters)
    .addOption(options.batchSize)
    .option(
      "--grad-accumulation <n>",
      "batches per optimizer step",
      parseInteger("--grad-accumulation", 1),
      1,
    )
    .addOption(options.learningRate)
    .option("--lr-schedule <kind>", "after warmup: constant, linear or cosine", "constant")
    .option("--warmup <n>", "steps of linear warmup", parseInteger("--warmup"), 0)
    .addOption(options.loraRank)
    .addOption(options.loraAlpha)
    .addOption(options.loraModules)
    .option(
      "--lora-dropout <p>",
      "dropout on the adapter's input in training (PEFT's lora_dropout)",
      parseNumber("--lora-dropout"),
      0,
    )
    .option("--rslora", "scale by alpha / √r (rank-stabilised LoRA)")
    .addOption(options.adapterPath)
    .addOption(options.stepsPerReport)
    .addOption(options.stepsPerEval)
    .option(
      "--val-batches <n>",
      "validation batches per evaluation (0: all)",
      parseInteger("--val-batches"),
      25,
    )
    .addOption(options.saveEvery)
    .addOption(options.seed)
    .option("--mask-prompt", "loss only on completions / the last model turn")
    .option(
      "--max-seq-length <n>",
      "cut longer sequences",
      parseInteger("--max-seq-length", 2),
      2048,
    )
    .option(
      "--max-grad-norm <x>",
      "clip the gradient's global norm (0: off)",
      parseNumber("--max-grad-norm"),
      1,
    )
    .option(
      "--weight-decay <x>",
      "AdamW's decoupled weight decay",
      parseNumber("--weight-decay"),
      0,
    )
    .addOption(options.resume)
    .option("--gguf <file>", "also write the adapter as a llama.cpp LoRA GGUF at every save")
    .addOption(options.json)
    .addOption(options.quiet)
    .action(runFinetune);
}

/** The learning rate of step `step` (from 1). */
export function learningRate(flags: FinetuneFlags, step: number): number {
  const lr = flags.learningRate;
  if (step <= flags.warmup) return lr * step / flags.warmup;
  const progress = (step - flags.warmup) / Math.max(1, flags.iters - flags.warmup);
  switch (flags.lrSchedule) {
    case "linear":
      return lr * (1 - progress);
    case "cosine":
      return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
    default:
      return lr;
  }
}

async function runFinetune(_options: FinetuneFlags, command: Command): Promise<void> {
  const first = command.opts<FinetuneFlags>();
  if (first.config) await applyOptionFile(command, first.config);
  const given = command.opts<FinetuneFlags>();
  const dataDir = given.data;
  if (!dataDir) throw new UsageError("required option '--data <dir>' not specified");
  const statePath = `${given.adapterPath}/${TRAINING_STATE}`;
  let resumed: { state: Map<string, Float32Array>; progress: FinetuneProgress } | undefined;
  try {
    resumed = given.resume ? await loadTrainingState(statePath) : undefined;
  } catch (error) {
    if (error instanceof TrainError) throw new UsageError(`--resume: ${error.message}`);
    throw error;
  }
  const flags = resumed?.progress.recipe
    ? resumedFlags(given, resumed.progress.recipe, (key) => {
      const source = command.getOptionValueSource(key);
      return source === "cli" || source === "config";
    })
    : given;
  if (!(flags.loraDropout >= 0 && flags.loraDropout < 1)) {
    throw new UsageError(`--lora-dropout must be in [0, 1), got ${flags.loraDropout}`);
  }
  if (!["constant", "linear", "cosine"].includes(flags.lrSchedule)) {
    throw new UsageError(
      `--lr-schedule must be constant, linear or cosine, got "${flags.lrSchedule}"`,
    );
  }
  if (!(flags.learningRate > 0)) throw new UsageError("--learning-rate must be positive");
  const modules = parseLoraModules(flags.loraModules);
  // Training runs whole sequences, which read the weight buffers, never their textures.
  const quiet = flags.quiet || flags.json;
  const loaded = await loadModel({ ...flags, quiet, weightTextures: false });
  const { model, tokenizer, source } = loaded;
  const data: Dataset = await loadDataset(dataDir, tokenizer, {
    maskPrompt: flags.maskPrompt,
    maxSeqLength: flags.maxSeqLength,
    vocabSize: model.config.vocabSize,
  });
  const note = (text: string) => {
    if (!flags.quiet && !flags.json) console.error(text);
  };
  for (const split of [data.train, data.valid, data.test]) {
    if (split?.truncated) {
      note(
        `note: ${split.truncated} sequences of ${split.file} cut to ${flags.maxSeqLength} tokens`,
      );
    }
  }
  const all = [
    ...data.train.examples,
    ...(data.valid?.examples ?? []),
    ...(data.test?.examples ?? []),
  ];
  const longest = Math.max(...all.map((e) => e.ids.length));
  // A resumed run keeps the settings and seed it was started with (states written before
  // recipes were kept: these two alone).
  const settings = (!resumed?.progress.recipe && resumed?.progress.settings) || {
    rank: flags.loraRank,
    alpha: flags.loraAlpha,
    modules,
    rsLora: flags.rslora,
    dropout: flags.loraDropout,
  };
  const seed = resumed && !resumed.progress.recipe ? resumed.progress.seed : flags.seed;
  // A batch is packed into one forward and backward where the device's bindings allow.
  const maxRows = packedRows(model, flags.batchSize, longest);
  const trainer = new LoraTrainer(model, initLora(model.config, settings, seed), maxRows);
  trainer.seed = seed;
  if (resumed) {
    trainer.importState(resumed.state, resumed.progress.step);
    note(`Resuming after step ${resumed.progress.step} from ${statePath}`);
  }
  const baseModel = source.known?.name ?? source.path;
  let savedStep = 0;
  // The train loss of the steps since the last report (a checkpoint keeps it, so the first report
  // after a resume averages the same steps as an uninterrupted run's).
  let lossSum = resumed?.progress.pendingLoss?.sum ?? 0;
  let lossTokens = resumed?.progress.pendingLoss?.tokens ?? 0;
  const save = async (step: number) => {
    // Only a good adapter replaces the last saved one: its loss on a training sequence is finite.
    const check = await trainer.lossOf(data.train.examples[0]);
    if (!Number.isFinite(check)) {
      throw new TrainError(`the loss became ${check} after step ${step}`);
    }
    const adapter = await trainer.adapter();
    await writePeftAdapter(flags.adapterPath, adapter, { baseModel, dropout: settings.dropout });
    if (flags.gguf) await writeLoraGguf(flags.gguf, model.config, adapter);
    const progress: FinetuneProgress = {
      step,
      batches: step * flags.gradAccumulation,
      seed,
      settings,
      pendingLoss: { sum: lossSum, tokens: lossTokens },
      recipe: recipeOf(flags),
    };
    await saveTrainingState(statePath, await trainer.exportState(), progress);
    savedStep = step;
  };
  const report = (fields: Record<string, number>) => {
    if (flags.json) {
      console.log(JSON.stringify(fields));
    } else if (!flags.quiet) {
      const parts = [`iter ${fields.iteration}`];
      if (fields.train_loss !== undefined) parts.push(`train loss ${fields.train_loss.toFixed(3)}`);
      if (fields.val_loss !== undefined) parts.push(`val loss ${fields.val_loss.toFixed(3)}`);
      if (fields.learning_rate !== undefined) {
        parts.push(`lr ${fields.learning_rate.toExponential(2)}`);
      }
      if (fields.tokens_per_second !== undefined) {
        parts.push(`${fields.tokens_per_second.toFixed(1)} tokens/s`);
      }
      if (fields.test_loss !== undefined) {
        parts.push(`test loss ${fields.test_loss.toFixed(3)}`);
        parts.push(`test perplexity ${fields.test_perplexity.toFixed(3)}`);
      }
      if (fields.peak_memory_gb !== undefined) {
        parts.push(`peak GPU memory ${fields.peak_memory_gb.toFixed(3)} GB`);
      }
      bar?.clear();
      console.error(parts.join(", "));
    }
  };
  /** Mean loss per target token over `examples` (forward only, no dropout). */
  const meanLoss = async (examples: TrainExample[]): Promise<number> => {
    let loss = 0;
    let tokens = 0;
    for (const example of examples) {
      loss += await trainer.lossOf(example);
      tokens += targets(example);
    }
    return loss / tokens;
  };
  const validate = async (): Promise<number | undefined> => {
    if (!data.valid) return undefined;
    const count = flags.valBatches === 0
      ? data.valid.examples.length
      : Math.min(data.valid.examples.length, flags.valBatches * flags.batchSize);
    return await meanLoss(data.valid.examples.slice(0, count));
  };
  // Everything the run holds on the GPU, allocated up front (so also the peak): see gpuBytes.
  const memory = () => trainer.gpuBytes / 1e9;
  const bar = !flags.quiet && !flags.json && Deno.stderr.isTerminal()
    ? trainingProgressBar(flags.iters, trainer.step)
    : undefined;

  try {
    if (!resumed) {
      const first = await validate();
      if (first !== undefined) {
        report({ iteration: 0, val_loss: first, peak_memory_gb: memory() });
      }
    }
    const stream = batches(data.train.examples, flags.batchSize, seed);
    for (let i = 0; i < (resumed?.progress.batches ?? 0); i++) stream.next();
    let inputTokens = 0;
    let since = performance.now();
    for (let step = trainer.step + 1; step <= flags.iters; step++) {
      const examples: TrainExample[] = [];
      for (let i = 0; i < flags.gradAccumulation; i++) examples.push(...stream.next().value!);
      const lr = learningRate(flags, step);
      const result = await trainer.trainStep(examples, {
        lr,
        maxGradNorm: flags.maxGradNorm,
        weightDecay: flags.weightDecay,
      });
      lossSum += result.loss * result.tokens;
      lossTokens += result.tokens;
      inputTokens += result.inputTokens;
      const fields: Record<string, number> = {};
      if (step % flags.stepsPerReport === 0 || step === flags.iters) {
        const seconds = (performance.now() - since) / 1000;
        Object.assign(fields, {
          train_loss: lossSum / lossTokens,
          learning_rate: lr,
          tokens_per_second: inputTokens / seconds,
          trained_tokens: inputTokens,
          peak_memory_gb: memory(),
        });
        lossSum = lossTokens = inputTokens = 0;
      }
      if (step % flags.stepsPerEval === 0 || step === flags.iters) {
        const val = await validate();
        if (val !== undefined) fields.val_loss = val;
      }
      if (Object.keys(fields).length > 0) {
        report({ iteration: step, ...fields });
        since = performance.now();
      }
      if (step % flags.saveEvery === 0 || step === flags.iters) await save(step);
      bar?.update(step, result.loss);
    }
    bar?.clear();
    if (data.test) {
      const test = await meanLoss(data.test.examples);
      report({
        iteration: flags.iters,
        test_loss: test,
        test_perplexity: Math.exp(test),
        peak_memory_gb: memory(),
      });
    }
    note(`Adapter written to ${flags.adapterPath}`);
  } catch (error) {
    if (error instanceof TrainError) {
      const kept = savedStep > 0
        ? `the adapter of step ${savedStep} is kept in ${flags.adapterPath}`
        : "no adapter was written";
      throw new ExitStatus(`error: ${error.message}; ${kept}`, 2);
    }
    throw error;
  } finally {
    bar?.clear();
    trainer.destroy();
  }
}

/** core's progress of a run, the train loss since its last report, and the run's recipe. */
interface FinetuneProgress extends TrainingProgress {
  pendingLoss?: { sum: number; tokens: number };
  /** Absent in states written before recipes were kept. */
  recipe?: Recipe;
}

/** The flags that shape a run's steps and losses: a resumed run keeps those it started with. */
const RECIPE = [
  "seed",
  "loraRank",
  "loraAlpha",
  "loraModules",
  "loraDropout",
  "rslora",
  "iters",
  "batchSize",
  "gradAccumulation",
  "learningRate",
  "lrSchedule",
  "warmup",
  "maxGradNorm",
  "weightDecay",
  "maskPrompt",
  "maxSeqLength",
] as const;
type Recipe = Record<typeof RECIPE[number], number | string | boolean>;

function recipeOf(flags: FinetuneFlags): Recipe {
  return Object.fromEntries(RECIPE.map((key) => [key, flags[key] ?? false])) as Recipe;
}

/**
 * The flags of a resumed run: its recipe where the command line and config file are silent, and
 * an error naming every flag they set otherwise (it would not continue the run but start another
 * one from its middle). Only --iters may grow, and only under a constant learning rate, whose
 * steps do not depend on where the run ends.
 */
export function resumedFlags(
  flags: FinetuneFlags,
  recipe: Recipe,
  given: (key: string) => boolean,
): FinetuneFlags {
  const resumed: Record<string, unknown> = { ...flags };
  const differences: string[] = [];
  for (const key of RECIPE) {
    const value = flags[key] ?? false;
    const same = key === "loraModules"
      ? parseLoraModules(String(value)).join() === parseLoraModules(String(recipe[key])).join()
      : value === recipe[key];
    if (!given(key) || same) {
      resumed[key] = recipe[key];
    } else if (!(key === "iters" && recipe.lrSchedule === "constant")) {
      const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      differences.push(`${flag} ${recipe[key]} (not ${value})`);
    }
  }
  if (differences.length > 0) {
    throw new UsageError(
      `--resume: the run was started with ${
        differences.join(", ")
      }; resume with those or start a new run in another --adapter-path`,
    );
  }
  return resumed as unknown as FinetuneFlags;
}

function targets(example: TrainExample): number {
  let n = 0;
  for (let i = 1; i < example.ids.length; i++) if (example.lossMask?.[i] ?? true) n++;
  return n;
}
