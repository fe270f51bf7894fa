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
import { ExitStatus, parseInteger, parseNumber, UsageError } from "./common.ts";
import { loadModel } from "./model_source.ts";

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
  json?: boolean;
  model?: string;
  dtype?: string;
  quant?: string;
  quiet?: boolean;
}

export function safetyTrainCommand(): Command {
  return new Command("train")
    .description(
      'train an agile classifier: a LoRA adapter on JSON lines of {"text", "label"}, scored by gemma safety classify --adapter',
    )
    .requiredOption("--data <file>", 'JSON lines of {"text": ..., "label": ...}')
    .requiredOption(
      "--labels <list>",
      "the labels, comma-separated, each one token (e.g. safe,unsafe)",
    )
    .requiredOption(
      "--adapter-path <dir>",
      "where the adapter folder (PEFT + agile.json) is written",
    )
    .option("--valid <file>", "held-out labelled texts: their loss is reported")
    .option(
      "--valid-fraction <x>",
      "hold out this fraction of --data instead (seeded)",
      parseNumber("--valid-fraction"),
    )
    .option("--iters <n>", "optimizer steps", parseInteger("--iters", 1), 200)
    .option("--batch-size <n>", "texts per step", parseInteger("--batch-size", 1), 4)
    .option("--learning-rate <lr>", "AdamW's learning rate", parseNumber("--learning-rate"), 1e-3)
    .option("--lora-rank <r>", "adapter rank", parseInteger("--lora-rank", 1), 4)
    .option("--lora-alpha <a>", "adapter alpha (scale alpha / r)", parseNumber("--lora-alpha"), 4)
    .option("--lora-modules <list>", "q_proj,…,down_proj or all", "all")
    .option(
      "--seed <n>",
      "seed of the adapter's init, the batch order and the split",
      parseInteger("--seed"),
      0,
    )
    .option(
      "--steps-per-report <n>",
      "report the train loss every n steps",
      parseInteger("--steps-per-report", 1),
      10,
    )
    .option(
      "--steps-per-eval <n>",
      "held-out loss every n steps",
      parseInteger("--steps-per-eval", 1),
      50,
    )
    .option(
      "--save-every <n>",
      "also write the adapter every n steps",
      parseInteger("--save-every", 1),
    )
    .option("--json", "one JSON object per report on stdout")
    .option("-m, --model <path>", "a model name (gemma3:270m, the default) or checkpoint path")
    .option("--dtype <type>", "weight precision on the GPU: f16 or f32 (default f16 if supported)")
    .option("--quant <type>", "quantize float weights on load: q8_0 or q4_0 (QLoRA)")
    .option("-q, --quiet", "no notices or progress on stderr")
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
  const loaded = await loadModel({ ...flags, quiet });
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
