// Training an agile classifier: the labelled texts become prompt + label-token sequences
// (agile.ts, loss on the label token only), trained through core's LoRA trainer with AdamW at a
// constant learning rate, batches from a seeded shuffle; the adapter is written as a PEFT folder
// with agile.json beside it, and with `saveEvery` core's training state too, so that a stopped
// run resumes with the same losses.

import {
  type Gemma,
  type GemmaTokenizer,
  initLora,
  loadTrainingState,
  type LoraSettings,
  LoraTrainer,
  mulberry32,
  packedRows,
  saveTrainingState,
  TrainError,
  type TrainExample,
  TRAINING_STATE,
  type TrainingProgress,
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
  /**
   * Also write the adapter every this many steps (default: only at the end), and the training
   * state (adapter, AdamW moments, data position) beside it for `resume`.
   */
  saveEvery?: number;
  /**
   * Continue from the training state in `dir`: with the same texts and settings, the losses and
   * the adapter are those of a run that was never stopped.
   */
  resume?: boolean;
  /** Called with each report: iteration and whichever of the other fields were measured. */
  onReport?: (report: AgileTrainReport) => void;
}

export interface AgileTrainReport {
  iteration: number;
  train_loss?: number;
  val_loss?: number;
  tokens_per_second?: number;
}

/** core's progress of a run, with what an agile run adds to resume exactly. */
interface AgileProgress extends TrainingProgress {
  labels: string[];
  batchSize: number;
  /** Absent in states written before it was kept. */
  learningRate?: number;
  /** The train loss summed over the steps since the last report, and their count. */
  pendingLoss: { sum: number; steps: number };
}

/**
 * The training state in `dir` of a run started with these labels, seed, batch size, learning
 * rate and adapter settings (each shapes the run: another would not continue it).
 */
async function resumeState(
  dir: string,
  labels: string[],
  options: AgileTrainOptions,
): Promise<{ state: Map<string, Float32Array>; progress: AgileProgress }> {
  let loaded;
  try {
    loaded = await loadTrainingState(`${dir}/${TRAINING_STATE}`);
  } catch (error) {
    if (error instanceof TrainError) throw new AgileError(`cannot resume: ${error.message}`);
    throw error;
  }
  const progress = loaded.progress as AgileProgress;
  if (!Array.isArray(progress.labels) || !progress.pendingLoss) {
    throw new AgileError(`cannot resume: ${dir}/${TRAINING_STATE} is not an agile classifier's`);
  }
  const lora = options.lora;
  const started = progress.settings;
  const differences = [
    progress.labels.join(",") !== labels.join(",") &&
    `--labels ${progress.labels.join(",")}, not ${labels.join(",")}`,
    progress.seed !== options.seed && `--seed ${progress.seed}, not ${options.seed}`,
    progress.batchSize !== options.batchSize &&
    `--batch-size ${progress.batchSize}, not ${options.batchSize}`,
    progress.learningRate !== undefined && progress.learningRate !== options.learningRate &&
    `--learning-rate ${progress.learningRate}, not ${options.learningRate}`,
    (started.rank !== lora.rank || started.alpha !== lora.alpha ||
      started.modules.join(",") !== lora.modules.join(",")) &&
    `rank ${started.rank}, alpha ${started.alpha}, modules ${started.modules.join(",")}`,
  ].filter(Boolean);
  if (differences.length > 0) {
    throw new AgileError(`cannot resume: the run was started with ${differences.join("; ")}`);
  }
  return { state: loaded.state, progress };
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
  const resumed = options.resume ? await resumeState(dir, labels, options) : undefined;
  const trainer = new LoraTrainer(
    model,
    initLora(model.config, options.lora, options.seed),
    packedRows(model, options.batchSize, longest),
  );
  if (resumed) trainer.importState(resumed.state, resumed.progress.step);
  const report = options.onReport ?? (() => {});
  const validate = async () => {
    let loss = 0;
    for (const example of valid) loss += await trainer.lossOf(example);
    return loss / valid.length;
  };
  // The train loss since the last report at a multiple of stepsPerReport (a resumed run's first
  // report then covers the steps an uninterrupted run's would).
  const pending = { ...(resumed?.progress.pendingLoss ?? { sum: 0, steps: 0 }) };
  const save = async (step: number) => {
    await writePeftAdapter(dir, await trainer.adapter(), { baseModel: baseModel ?? "" });
    await writeAgileConfig(dir, {
      formatVersion: AGILE_FORMAT_VERSION,
      labels,
      labelTokenIds: labelIds,
      instructions: AGILE_INSTRUCTIONS,
      separator: AGILE_SEPARATOR,
      baseModel,
    });
    if (!options.saveEvery) return;
    // Last, so that a state on disk always has its adapter beside it.
    const progress: AgileProgress = {
      step,
      batches: step,
      seed: options.seed,
      settings: options.lora,
      labels,
      batchSize: options.batchSize,
      learningRate: options.learningRate,
      pendingLoss: { ...pending },
    };
    await saveTrainingState(`${dir}/${TRAINING_STATE}`, await trainer.exportState(), progress);
  };
  try {
    if (valid.length > 0 && !resumed) report({ iteration: 0, val_loss: await validate() });
    const stream = mixedBatches(examples, options.batchSize, options.seed);
    for (let i = 0; i < (resumed?.progress.batches ?? 0); i++) stream.next();
    const every = options.stepsPerReport ?? 10;
    const evalEvery = options.stepsPerEval ?? 100;
    let tokens = 0;
    let since = performance.now();
    for (let step = trainer.step + 1; step <= options.iters; step++) {
      const batch: TrainExample[] = stream.next().value!;
      const result = await trainer.trainStep(batch, { lr: options.learningRate });
      pending.sum += result.loss;
      pending.steps += 1;
      tokens += result.inputTokens;
      const fields: AgileTrainReport = { iteration: step };
      if (step % every === 0 || step === options.iters) {
        fields.train_loss = pending.sum / pending.steps;
        fields.tokens_per_second = tokens / ((performance.now() - since) / 1000);
        tokens = 0;
        // The last step's report, off the schedule, leaves the sum for a resumed run.
        if (step % every === 0) pending.sum = pending.steps = 0;
      }
      if (valid.length > 0 && (step % evalEvery === 0 || step === options.iters)) {
        fields.val_loss = await validate();
      }
      if (Object.keys(fields).length > 1) {
        report(fields);
        since = performance.now();
      }
      if (options.saveEvery && step % options.saveEvery === 0 && step < options.iters) {
        await save(step);
      }
    }
    await save(trainer.step);
  } finally {
    trainer.destroy();
  }
}
