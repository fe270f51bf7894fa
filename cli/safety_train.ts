// `gemma safety train`: trains an agile classifier (a LoRA adapter on a few hundred labelled
// texts, the Responsible GenAI Toolkit's recipe) and writes it as a PEFT folder plus agile.json,
// which `gemma safety classify --adapter DIR` reads.

import { Command } from "commander";
import { parseLoraModules, TrainError } from "../core/mod.ts";
import {
  AgileError,
  holdOut,
  type LabelledText,
  parseLabelledJsonl,
  parseLabels,
  trainAgileClassifier,
} from "../safety/mod.ts";
import { ExitStatus, parseNumber, UsageError } from "./common.ts";
import { loadModel } from "./model_source.ts";
import { trainingOptions, type TrainingOptionSpec } from "./train_options.ts";

interface TrainFlags {
  data: string;
  labels: string;
  adapterPath: string;
  valid?: string;
  validFraction?: number;
  iters: number;
  batchSize: number;
  learningRate: number;
  loraRank: number;
  loraAlpha: number;
  loraModules: string;
  seed: number;
  stepsPerReport: number;
  stepsPerEval: number;
  saveEvery?: number;
  resume?: boolean;
  json?: boolean;
  model?: string;
  dtype?: string;
  quant?: string;
  quiet?: boolean;
}

// An agile classifier's adapter is small and trains in a few hundred steps (the Responsible GenAI
// Toolkit's recipe; 1e-3 was the learning rate measured best on Gemma 3 270M).
const AGILE_DEFAULTS: TrainingOptionSpec = {
  iters: 200,
  batchOf: "texts",
  batchSize: 4,
  learningRate: 1e-3,
  loraRank: 4,
  loraAlpha: 4,
  adapterPath: { help: "where the adapter folder (PEFT + agile.json) is written" },
  evalReports: "held-out loss",
  stepsPerEval: 50,
  saveEvery: { help: "also write the adapter and the training state (for --resume) every n steps" },
  seedHelp: "seed of the adapter's init, the batch order and the split",
};

export function safetyTrainCommand(): Command {
  const options = trainingOptions(AGILE_DEFAULTS);
  return new Command("train")
    .description(
      'train an agile classifier: a LoRA adapter on JSON lines of {"text", "label"}, scored by gemma safety classify --adapter',
    )
    .requiredOption("--data <file>", 'JSON lines of {"text": ..., "label": ...}')
    .requiredOption(
      "--labels <list>",
      "the labels, comma-separated, each one token (e.g. safe,unsafe)",
    )
    .addOption(options.adapterPath)
    .option("--valid <file>", "held-out labelled texts: their loss is reported")
    .option(
      "--valid-fraction <x>",
      "hold out this fraction of --data instead (seeded)",
      parseNumber("--valid-fraction"),
    )
    .addOption(options.iters)
    .addOption(options.batchSize)
    .addOption(options.learningRate)
    .addOption(options.loraRank)
    .addOption(options.loraAlpha)
    .addOption(options.loraModules)
    .addOption(options.seed)
    .addOption(options.stepsPerReport)
    .addOption(options.stepsPerEval)
    .addOption(options.saveEvery)
    .addOption(options.resume)
    .addOption(options.json)
    .addOption(options.model)
    .addOption(options.dtype)
    .addOption(options.quant)
    .addOption(options.quiet)
    .action(runTrain);
}

async function readLabelled(path: string, labels: string[]): Promise<LabelledText[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new UsageError(`Cannot read "${path}": ${why}`);
  }
  return parseLabelledJsonl(text, path, labels);
}

async function runTrain(flags: TrainFlags): Promise<void> {
  try {
    await train(flags);
  } catch (error) {
    if (error instanceof AgileError) throw new UsageError(error.message);
    if (error instanceof TrainError) throw new ExitStatus(`error: ${error.message}`, 2);
    throw error;
  }
}

async function train(flags: TrainFlags): Promise<void> {
  if (flags.valid !== undefined && flags.validFraction !== undefined) {
    throw new UsageError("--valid and --valid-fraction do not go together");
  }
  if (!(flags.learningRate > 0)) throw new UsageError("--learning-rate must be positive");
  // Everything that can be checked without the model is checked first.
  const labels = parseLabels(flags.labels);
  const modules = parseLoraModules(flags.loraModules);
  let data = await readLabelled(flags.data, labels);
  let valid = flags.valid === undefined ? undefined : await readLabelled(flags.valid, labels);
  if (flags.validFraction !== undefined) {
    ({ train: data, valid } = holdOut(data, flags.validFraction, flags.seed));
  }
  const quiet = flags.quiet || flags.json;
  const loaded = await loadModel({ ...flags, quiet, weightTextures: false });
  const baseModel = loaded.source.known?.name ?? loaded.source.path;
  await trainAgileClassifier(loaded.model, loaded.tokenizer, data, flags.adapterPath, {
    labels,
    iters: flags.iters,
    batchSize: flags.batchSize,
    learningRate: flags.learningRate,
    lora: { rank: flags.loraRank, alpha: flags.loraAlpha, modules },
    seed: flags.seed,
    valid,
    stepsPerReport: flags.stepsPerReport,
    stepsPerEval: flags.stepsPerEval,
    saveEvery: flags.saveEvery,
    resume: flags.resume,
    onReport: (report) => {
      if (flags.json) console.log(JSON.stringify(report));
      else if (!quiet) {
        const parts = [`iter ${report.iteration}`];
        if (report.train_loss !== undefined) {
          parts.push(`train loss ${report.train_loss.toFixed(3)}`);
        }
        if (report.val_loss !== undefined) parts.push(`val loss ${report.val_loss.toFixed(3)}`);
        if (report.tokens_per_second !== undefined) {
          parts.push(`${report.tokens_per_second.toFixed(1)} tokens/s`);
        }
        console.error(parts.join(", "));
      }
    },
  }, baseModel);
  if (!quiet) console.error(`Agile classifier written to ${flags.adapterPath}`);
}
