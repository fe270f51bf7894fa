// Agile classifiers, the Responsible GenAI Toolkit's recipe: a LoRA adapter trained on a few
// hundred labelled texts, each wrapped in a fixed prompt that ends in "Prediction:" followed by
// its label as one token; the classifier's score is the softmax over the label tokens' logits at
// that point. The prompt follows the toolkit's rgai_tools agile_classifier (text_processing's
// build_prompt with its defaults):
//
//   Classify the following text into one of the following classes:[safe,unsafe]<separator>
//   Text:<text><separator>Prediction:
//
// with "<separator>" as plain text (it is not a Gemma control token) and the label right after
// the colon, no space; the toolkit trains on the whole string plus <eos>, here only the label
// token carries a loss. The label is appended as its token id (not re-tokenized with the prompt),
// so training and scoring see exactly the same ids. An adapter folder gets an agile.json beside
// the PEFT files with the labels, so classifying needs no flags.

import type { GemmaSession, GemmaTokenizer, TrainExample } from "../core/mod.ts";

export class AgileError extends Error {
  override name = "AgileError";
}

export const AGILE_INSTRUCTIONS = "Classify the following text into one of the following classes";
export const AGILE_SEPARATOR = "<separator>";
export const AGILE_CONFIG = "agile.json";
export const AGILE_FORMAT_VERSION = 1;

/** The prompt the label token follows. */
export function agilePrompt(text: string, labels: readonly string[]): string {
  const header = `${AGILE_INSTRUCTIONS}:[${labels.join(",")}]`;
  return [header, `Text:${text}`, "Prediction:"].join(AGILE_SEPARATOR);
}

/** <bos> + the prompt's ids (as HF's tokenizer adds <bos>). */
export function agilePromptIds(
  tokenizer: GemmaTokenizer,
  text: string,
  labels: readonly string[],
): number[] {
  return tokenizer.encode(agilePrompt(text, labels), { addBos: true });
}

/** Labels from "a,b" or a list: at least two, distinct, non-empty. */
export function parseLabels(value: string | readonly string[]): string[] {
  const labels = typeof value === "string" ? value.split(",").map((s) => s.trim()) : [...value];
  if (labels.some((l) => l === "")) throw new AgileError(`an empty label in "${labels.join(",")}"`);
  if (labels.length < 2) {
    throw new AgileError(`an agile classifier needs at least 2 labels, got ${labels.length}`);
  }
  const seen = new Set<string>();
  for (const label of labels) {
    if (seen.has(label)) throw new AgileError(`label "${label}" is given twice`);
    seen.add(label);
  }
  return labels;
}

/** Each label's token id; a one-line error naming a label that is not exactly one token. */
export function labelTokenIds(tokenizer: GemmaTokenizer, labels: readonly string[]): number[] {
  return labels.map((label) => {
    const ids = tokenizer.encode(label, { addBos: false });
    if (ids.length !== 1) {
      const pieces = ids.map((id) => JSON.stringify(tokenizer.idToToken(id) ?? `#${id}`));
      throw new AgileError(
        `label "${label}" is not one token of the model's tokenizer: it encodes as [${
          pieces.join(", ")
        }]; choose labels that are single tokens`,
      );
    }
    return ids[0];
  });
}

export interface LabelledText {
  text: string;
  label: string;
}

/** JSON lines of {"text", "label"} (blank lines skipped); errors name the file and line. */
export function parseLabelledJsonl(
  content: string,
  file: string,
  labels: readonly string[],
): LabelledText[] {
  const known = new Set(labels);
  const out: LabelledText[] = [];
  content.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new AgileError(`${where}: not JSON`);
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new AgileError(`${where}: expected an object with "text" and "label"`);
    }
    const { text, label } = value as Record<string, unknown>;
    if (typeof text !== "string") throw new AgileError(`${where}: no "text" string`);
    if (text.trim() === "") throw new AgileError(`${where}: "text" is empty`);
    if (typeof label !== "string") throw new AgileError(`${where}: no "label" string`);
    if (!known.has(label)) {
      throw new AgileError(`${where}: label "${label}" is not one of ${labels.join(",")}`);
    }
    out.push({ text, label });
  });
  if (out.length === 0) throw new AgileError(`${file}: no labelled texts`);
  return out;
}

/** A training sequence: the prompt's ids, then the label's token, the only target. */
export function agileExample(
  tokenizer: GemmaTokenizer,
  item: LabelledText,
  labels: readonly string[],
  labelIds: readonly number[],
): TrainExample {
  const prompt = agilePromptIds(tokenizer, item.text, labels);
  const ids = [...prompt, labelIds[labels.indexOf(item.label)]];
  return { ids, lossMask: ids.map((_, i) => i === ids.length - 1) };
}

/** What agile.json holds. */
export interface AgileConfig {
  formatVersion: number;
  labels: string[];
  /** The label tokens' ids in the tokenizer the adapter was trained with (checked on load). */
  labelTokenIds: number[];
  instructions: string;
  separator: string;
  baseModel?: string;
}

/** Writes `dir`/agile.json atomically. */
export async function writeAgileConfig(dir: string, config: AgileConfig): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const json = {
    format_version: config.formatVersion,
    labels: config.labels,
    label_token_ids: config.labelTokenIds,
    instructions: config.instructions,
    separator: config.separator,
    ...(config.baseModel === undefined ? {} : { base_model: config.baseModel }),
  };
  const path = `${dir}/${AGILE_CONFIG}`;
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(json, null, 2) + "\n");
  await Deno.rename(`${path}.tmp`, path);
}

/** Reads `dir`/agile.json; one-line errors for a missing file or a field that is off. */
export async function readAgileConfig(dir: string): Promise<AgileConfig> {
  const path = `${dir}/${AGILE_CONFIG}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new AgileError(
        `"${dir}" has no ${AGILE_CONFIG}, so it is not an agile classifier (train one with gemma safety train)`,
      );
    }
    throw new AgileError(`Cannot read "${path}": ${(error as Error).message}`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AgileError(`"${path}" is not JSON`);
  }
  if (json.format_version !== AGILE_FORMAT_VERSION) {
    throw new AgileError(
      `"${path}": format_version ${json.format_version}, this program reads ${AGILE_FORMAT_VERSION}`,
    );
  }
  const labels = json.labels;
  const ids = json.label_token_ids;
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === "string")) {
    throw new AgileError(`"${path}": "labels" must be a list of strings`);
  }
  if (
    !Array.isArray(ids) || ids.length !== labels.length || !ids.every(Number.isInteger)
  ) {
    throw new AgileError(`"${path}": "label_token_ids" must be one integer per label`);
  }
  if (json.instructions !== AGILE_INSTRUCTIONS || json.separator !== AGILE_SEPARATOR) {
    throw new AgileError(`"${path}": a prompt format this program does not know`);
  }
  return {
    formatVersion: AGILE_FORMAT_VERSION,
    labels: parseLabels(labels),
    labelTokenIds: ids,
    instructions: AGILE_INSTRUCTIONS,
    separator: AGILE_SEPARATOR,
    baseModel: typeof json.base_model === "string" ? json.base_model : undefined,
  };
}

/** softmax over the label tokens' logits, computed stably (one probability per label). */
export function labelProbabilities(
  logits: ArrayLike<number>,
  labelIds: readonly number[],
): number[] {
  const chosen = labelIds.map((id) => logits[id]);
  const top = Math.max(...chosen);
  const exps = chosen.map((z) => Math.exp(z - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

export interface AgileScore {
  /** The most probable label, or the one the classifier's threshold decides. */
  label: string;
  /** label → probability (softmax over the label tokens' logits). */
  probabilities: Map<string, number>;
  /** label → logit. */
  logits: Map<string, number>;
}

/**
 * Checks a decision threshold for a classifier of `labels`. A threshold trades precision for
 * recall of one class, so it needs two labels: the second (the positive class, e.g. "unsafe") is
 * predicted when its probability is at least the threshold, the first otherwise.
 */
export function checkThreshold(labels: readonly string[], threshold: number): void {
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new AgileError(`the threshold must be between 0 and 1, got ${threshold}`);
  }
  if (labels.length !== 2) {
    throw new AgileError(
      `a threshold needs a classifier of two labels (negative,positive); this one has ${labels.length}: ${
        labels.join(",")
      }`,
    );
  }
}

export interface AgileClassifierConfig {
  labels: readonly string[];
  /** The ids the adapter was trained with, checked against the tokenizer's. */
  labelTokenIds?: readonly number[];
  /**
   * With two labels: predict the second when its probability is ≥ this (see checkThreshold).
   * Default: the most probable label.
   */
  threshold?: number;
}

/**
 * Scores texts with an agile classifier (the session's model carrying its adapter). Consecutive
 * prompts reuse their common prefix (the instructions and label list) from the session's cache
 * instead of prefilling it again.
 */
export class AgileClassifier {
  readonly labels: string[];
  readonly labelIds: number[];
  readonly threshold?: number;

  constructor(
    readonly session: GemmaSession,
    readonly tokenizer: GemmaTokenizer,
    config: AgileClassifierConfig,
  ) {
    this.labels = parseLabels(config.labels);
    if (config.threshold !== undefined) checkThreshold(this.labels, config.threshold);
    this.threshold = config.threshold;
    this.labelIds = labelTokenIds(tokenizer, this.labels);
    if (
      config.labelTokenIds &&
      config.labelTokenIds.some((id, i) => id !== this.labelIds[i])
    ) {
      throw new AgileError(
        `the adapter's label tokens [${config.labelTokenIds}] differ from this tokenizer's [${this.labelIds}]: it was trained for another model`,
      );
    }
  }

  async score(text: string): Promise<AgileScore> {
    if (text.trim() === "") throw new AgileError("the text to classify is empty");
    const ids = agilePromptIds(this.tokenizer, text, this.labels);
    const session = this.session;
    if (ids.length > session.contextLength) {
      throw new AgileError(
        `the prompt has ${ids.length} tokens but the context holds ${session.contextLength}; use --ctx`,
      );
    }
    // The prompt's start is the previous prompt's: only the text and what follows are prefilled.
    const shared = session.keepSharedPrefix(ids);
    session.append(ids.slice(shared));
    const logits = await session.logits();
    const p = labelProbabilities(logits, this.labelIds);
    let best = 0;
    if (this.threshold !== undefined) best = p[1] >= this.threshold ? 1 : 0;
    else for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
    return {
      label: this.labels[best],
      probabilities: new Map(this.labels.map((l, i) => [l, p[i]])),
      logits: new Map(this.labels.map((l, i) => [l, logits[this.labelIds[i]]])),
    };
  }
}
