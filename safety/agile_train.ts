// Training an agile classifier: the labelled texts become prompt + label-token sequences
// (agile.ts, loss on the label token only), trained through core's LoRA trainer with AdamW at a
// constant learning rate, batches grouped by length in a seeded order; the adapter is written as
// a PEFT folder with agile.json beside it.

import {
  type Gemma,
  type GemmaTokenizer,
  initLora,
  type LoraSettings,
  LoraTrainer,
  mulberry32,
  packedRows,
  type TrainExample,
  writePeftAdapter,
} from "../core/mod.ts";
import {
  AGILE_FORMAT_VERSION,
  AGILE_INSTRUCTIONS,
  AGILE_SEPARATOR,
  AgileError,
  agileExample,
  type LabelledText,
  labelTokenIds,
  parseLabels,
  writeAgileConfig,
} from "./agile.ts";

export interface AgileTrainOptions {
  labels: readonly string[];
  iters: number;
  batchSize: number;
  learningRate: number;
  lora: LoraSettings;
  seed: number;
  /** Held-out texts: their mean label loss is reported every `stepsPerEval` steps and at the end. */
  valid?: LabelledText[];
  stepsPerReport?: number;
  stepsPerEval?: number;
  /** Also write the adapter every this many steps (default: only at the end). */
  saveEvery?: number;
  /** Called with each report: iteration and whichever of the other fields were measured. */
  onReport?: (report: AgileTrainReport) => void;
}

export interface AgileTrainReport {
  iteration: number;
  train_loss?: number;
  val_loss?: number;
  tokens_per_second?: number;
}

/** Splits off the last `fraction` of a seeded shuffle of `items` as a held-out set. */
export function holdOut<T>(items: T[], fraction: number, seed: number): { train: T[]; valid: T[] } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new AgileError(`the held-out fraction must be between 0 and 1, got ${fraction}`);
  }
  const order = [...items];
  const random = mulberry32(seed ^ 0x9e3779b9);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const count = Math.round(order.length * fraction);
  if (count < 1 || count >= order.length) {
    throw new AgileError(
      `holding out ${fraction} of ${items.length} texts leaves ${count} held out and ${
        order.length - count
      } to train on`,
    );
  }
  return { train: order.slice(0, order.length - count), valid: order.slice(order.length - count) };
}

/**
 * An endless stream of batches drawn from a seeded shuffle, reshuffled each pass. Not grouped by
 * length as finetune-lora's batches are: a classifier's texts are short (little padding to save),
 * and a label often goes with a length, so length-grouped batches would hold one label each and
 * pull the adapter back and forth between them.
 */
export function* mixedBatches<T>(items: T[], batchSize: number, seed: number): Generator<T[]> {
  if (items.length === 0) throw new AgileError("no texts to train on");
  const random = mulberry32(seed);
  const order = [...items];
  for (;;) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let i = 0; i < order.length; i += batchSize) yield order.slice(i, i + batchSize);
  }
}

/** Trains the classifier and writes the adapter folder (PEFT files + agile.json) to `dir`. */
export async function trainAgileClassifier(
  model: Gemma,
  tokenizer: GemmaTokenizer,
  train: LabelledText[],
  dir: string,
  options: AgileTrainOptions,
  baseModel?: string,
): Promise<void> {
  const labels = parseLabels(options.labels);
  const labelIds = labelTokenIds(tokenizer, labels);
  const toExamples = (items: LabelledText[]) =>
    items.map((item) => agileExample(tokenizer, item, labels, labelIds));
  const examples = toExamples(train);
  const valid = options.valid ? toExamples(options.valid) : [];
  const longest = Math.max(...[...examples, ...valid].map((e) => e.ids.length));
  if (longest > model.config.maxPositions) {
    throw new AgileError(
      `a prompt has ${longest} tokens, more than the model's ${model.config.maxPositions} positions`,
    );
  }
  const trainer = new LoraTrainer(
    model,
    initLora(model.config, options.lora, options.seed),
    packedRows(model, options.batchSize, longest),
  );
  const report = options.onReport ?? (() => {});
  const validate = async () => {
    let loss = 0;
    for (const example of valid) loss += await trainer.lossOf(example);
    return loss / valid.length;
  };
  const save = async () => {
    await writePeftAdapter(dir, await trainer.adapter(), { baseModel: baseModel ?? "" });
    await writeAgileConfig(dir, {
      formatVersion: AGILE_FORMAT_VERSION,
      labels,
      labelTokenIds: labelIds,
      instructions: AGILE_INSTRUCTIONS,
      separator: AGILE_SEPARATOR,
      baseModel,
    });
  };
  try {
    if (valid.length > 0) report({ iteration: 0, val_loss: await validate() });
    const stream = mixedBatches(examples, options.batchSize, options.seed);
    const every = options.stepsPerReport ?? 10;
    const evalEvery = options.stepsPerEval ?? 100;
    let lossSum = 0;
    let steps = 0;
    let tokens = 0;
    let since = performance.now();
    for (let step = 1; step <= options.iters; step++) {
      const batch: TrainExample[] = stream.next().value!;
      const result = await trainer.trainStep(batch, { lr: options.learningRate });
      lossSum += result.loss;
      steps += 1;
      tokens += result.inputTokens;
      const fields: AgileTrainReport = { iteration: step };
      if (step % every === 0 || step === options.iters) {
        fields.train_loss = lossSum / steps;
        fields.tokens_per_second = tokens / ((performance.now() - since) / 1000);
        lossSum = steps = tokens = 0;
      }
      if (valid.length > 0 && (step % evalEvery === 0 || step === options.iters)) {
        fields.val_loss = await validate();
      }
      if (Object.keys(fields).length > 1) {
        report(fields);
        since = performance.now();
      }
      if (options.saveEvery && step % options.saveEvery === 0 && step < options.iters) await save();
    }
    await save();
  } finally {
    trainer.destroy();
  }
}
