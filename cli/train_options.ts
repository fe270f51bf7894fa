// The options `gemma finetune-lora` and `gemma safety train` share, declared once. Each command
// passes its own defaults (an agile classifier trains a small adapter for a few hundred steps at a
// higher learning rate) and the words that differ, then adds the options in its own order.

import { Option } from "commander";
import { parseInteger, parseNumber } from "./common.ts";

/** What differs between the two commands' declarations of the shared options. */
export interface TrainingOptionSpec {
  iters: number;
  /** What a batch holds, for --batch-size's help ("sequences", "texts"). */
  batchOf: string;
  batchSize: number;
  learningRate: number;
  loraRank: number;
  loraAlpha: number;
  /** --adapter-path's help; without a default the option is required. */
  adapterPath: { help: string; default?: string };
  /** What --steps-per-eval reports ("validation loss", "held-out loss"). */
  evalReports: string;
  stepsPerEval: number;
  /** --save-every's help and default (none: only at the end). */
  saveEvery: { help: string; default?: number };
  /** What --seed seeds. */
  seedHelp: string;
}

/** The shared options, by name; add each with `command.addOption(options.iters)`. */
export function trainingOptions(spec: TrainingOptionSpec) {
  const adapterPath = new Option("--adapter-path <dir>", spec.adapterPath.help);
  if (spec.adapterPath.default === undefined) adapterPath.makeOptionMandatory();
  else adapterPath.default(spec.adapterPath.default);
  const saveEvery = new Option("--save-every <n>", spec.saveEvery.help)
    .argParser(parseInteger("--save-every", 1));
  if (spec.saveEvery.default !== undefined) saveEvery.default(spec.saveEvery.default);
  return {
    model: new Option(
      "-m, --model <path>",
      "a model name (gemma3:270m, the default) or checkpoint path",
    ),
    dtype: new Option(
      "--dtype <type>",
      "weight precision on the GPU: f16 or f32 (default f16 if supported)",
    ),
    quant: new Option("--quant <type>", "quantize float weights on load: q8_0 or q4_0 (QLoRA)"),
    iters: new Option("--iters <n>", "optimizer steps")
      .argParser(parseInteger("--iters", 1)).default(spec.iters),
    batchSize: new Option("--batch-size <n>", `${spec.batchOf} per step`)
      .argParser(parseInteger("--batch-size", 1)).default(spec.batchSize),
    learningRate: new Option("--learning-rate <lr>", "AdamW's learning rate")
      .argParser(parseNumber("--learning-rate")).default(spec.learningRate),
    loraRank: new Option("--lora-rank <r>", "adapter rank")
      .argParser(parseInteger("--lora-rank", 1)).default(spec.loraRank),
    loraAlpha: new Option("--lora-alpha <a>", "adapter alpha (scale alpha / r)")
      .argParser(parseNumber("--lora-alpha")).default(spec.loraAlpha),
    loraModules: new Option(
      "--lora-modules <list>",
      "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all",
    ).default("all"),
    adapterPath,
    stepsPerReport: new Option("--steps-per-report <n>", "report the train loss every n steps")
      .argParser(parseInteger("--steps-per-report", 1)).default(10),
    stepsPerEval: new Option("--steps-per-eval <n>", `${spec.evalReports} every n steps`)
      .argParser(parseInteger("--steps-per-eval", 1)).default(spec.stepsPerEval),
    saveEvery,
    seed: new Option("--seed <n>", spec.seedHelp).argParser(parseInteger("--seed")).default(0),
    resume: new Option(
      "--resume",
      "continue from the training state in --adapter-path (adapter, optimizer, data position)",
    ),
    json: new Option("--json", "one JSON object per report on stdout"),
    quiet: new Option("-q, --quiet", "no notices or progress on stderr"),
  };
}
