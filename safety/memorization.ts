// The memorization probe of the Gemma reports: sample windows of prefix + suffix tokens from a
// corpus, prompt the model with `<bos>` + the prefix (as token ids: no text round trip), decode
// exactly `suffix` tokens greedily (an EOS is a token like any other, no early stop: the suffix
// always has its full length), and compare with the true suffix (memorization_score.ts).
// Windows decode many at a time: their prompts prefill packed into shared forward calls
// (SequenceBatch.start) and then advance together, one token each per forward call.

import { type Gemma, type GemmaTokenizer, maxSequences, SequenceBatch } from "../core/mod.ts";
import type { CorpusFile } from "./corpus.ts";
import { scoreContinuation, type WindowScore } from "./memorization_score.ts";
import { sampleWindows } from "./memorization_windows.ts";

export class MemorizationError extends Error {
  override name = "MemorizationError";
}

/** A PII finding in a text: its type and UTF-16 offsets (end exclusive). */
export interface PiiFinding {
  type: string;
  start: number;
  end: number;
}

/** Finds personal data in a text (safety's PII detectors fit this shape). */
export type PiiScanner = (text: string) => PiiFinding[];

export interface MemorizationOptions {
  /** Prefix tokens (after `<bos>`); default 50. */
  prefix?: number;
  /** Suffix tokens decoded and compared; default 50. */
  suffix?: number;
  /** Windows to sample; default 1000 (all there are, if fewer). */
  samples?: number;
  /** Seed of the window sample; default 0. */
  seed?: number;
  /** Windows decoded together; default 8 (fewer if their KV caches do not fit). */
  parallel?: number;
  /** Scans the decoded text of every approximately memorized window. */
  scanPii?: PiiScanner;
  /** Called after each group of windows, with the windows done and their total. */
  onProgress?: (done: number, total: number) => void;
}

export interface WindowResult {
  /** Index of the corpus file. */
  file: number;
  /** Index of the document in its file. */
  document: number;
  /** Token offset of the prefix in the document. */
  start: number;
  prefixIds: number[];
  suffixIds: number[];
  generatedIds: number[];
  score: WindowScore;
  /** Set for approximately memorized windows when a PII scanner is given. */
  pii?: PiiFinding[];
}

export interface FileCounts {
  path: string;
  documents: number;
  /** Documents shorter than prefix + suffix tokens. */
  skipped: number;
  /** Windows this file offered. */
  available: number;
}

export interface ProbeResult {
  prefix: number;
  suffix: number;
  seed: number;
  requested: number;
  /** Windows there were to draw from, in all files. */
  available: number;
  files: FileCounts[];
  windows: WindowResult[];
  /** Sequences decoded together. */
  parallel: number;
  decodeSeconds: number;
  /** What the caller should be told (e.g. fewer windows than asked for). */
  notes: string[];
}

export async function probeMemorization(
  model: Gemma,
  tokenizer: GemmaTokenizer,
  corpora: CorpusFile[],
  options: MemorizationOptions = {},
): Promise<ProbeResult> {
  const prefix = positiveInteger("prefix", options.prefix ?? 50);
  const suffix = positiveInteger("suffix", options.suffix ?? 50);
  const requested = positiveInteger("samples", options.samples ?? 1000);
  const seed = options.seed ?? 0;
  const context = prefix + suffix;
  if (context > model.config.maxPositions) {
    throw new MemorizationError(
      `prefix + suffix (${context} tokens) exceeds the model's context of ${model.config.maxPositions}`,
    );
  }
  // Every document of every file, tokenized without <bos>.
  const documents = corpora.flatMap((corpus, file) =>
    corpus.documents.map((text, document) => ({
      file,
      document,
      ids: tokenizer.encode(text, { addBos: false }),
    }))
  );
  const sample = sampleWindows(documents.map((d) => d.ids.length), context, requested, seed);
  if (sample.available === 0) {
    const longest = Math.max(0, ...documents.map((d) => d.ids.length));
    throw new MemorizationError(
      `No document is long enough for a window of ${context} tokens (prefix ${prefix} + suffix ${suffix}); the longest has ${longest}`,
    );
  }
  const notes: string[] = [];
  if (requested > sample.available) {
    notes.push(
      `${requested} windows asked for, but the corpus offers only ${sample.available}: using them all`,
    );
  }
  const files: FileCounts[] = corpora.map((c) => ({
    path: c.path,
    documents: c.documents.length,
    skipped: 0,
    available: 0,
  }));
  for (const d of documents) {
    const offered = Math.max(0, d.ids.length - context + 1);
    if (offered === 0) files[d.file].skipped++;
    files[d.file].available += offered;
  }
  const places = sample.windows.map(({ document, start }) => {
    const d = documents[document];
    return {
      file: d.file,
      document: d.document,
      start,
      prefixIds: d.ids.slice(start, start + prefix),
      suffixIds: d.ids.slice(start + prefix, start + context),
    };
  });
  const wanted = positiveInteger("parallel", options.parallel ?? 8);
  const parallel = Math.max(1, Math.min(wanted, maxSequences(model, context), places.length));
  if (parallel < Math.min(wanted, places.length)) {
    notes.push(`${wanted} sequences do not fit on this device: decoding ${parallel} at a time`);
  }
  const began = performance.now();
  const generated = await greedyContinuations(
    model,
    places.map((p) => [tokenizer.bosId, ...p.prefixIds]),
    suffix,
    parallel,
    options.onProgress,
  );
  const decodeSeconds = (performance.now() - began) / 1000;
  const windows = places.map((p, i): WindowResult => {
    const score = scoreContinuation(generated[i], p.suffixIds);
    const result: WindowResult = { ...p, generatedIds: generated[i], score };
    if (options.scanPii && score.approximate) {
      result.pii = options.scanPii(tokenizer.decode(generated[i]));
    }
    return result;
  });
  return {
    prefix,
    suffix,
    seed,
    requested,
    available: sample.available,
    files,
    windows,
    parallel,
    decodeSeconds,
    notes,
  };
}

/**
 * The `length` greedy tokens after each prompt, `parallel` prompts at a time. All prompts
 * advance in lockstep (they stop at the same length), so groups replace continuous batching.
 */
export async function greedyContinuations(
  model: Gemma,
  prompts: number[][],
  length: number,
  parallel: number,
  onProgress?: (done: number, total: number) => void,
): Promise<number[][]> {
  const longest = Math.max(...prompts.map((p) => p.length));
  const batch = new SequenceBatch(model, {
    sequences: parallel,
    contextLength: longest + length - 1,
  });
  const out: number[][] = [];
  try {
    for (let first = 0; first < prompts.length; first += parallel) {
      const group = prompts.slice(first, first + parallel);
      batch.start(group.map((ids, sequence) => ({ sequence, ids })));
      const tokens: number[][] = group.map(() => []);
      const rows = group.map((_, sequence) => ({ sequence, pick: {} }));
      for (let k = 0; k < length; k++) {
        const { picks } = await batch.step(rows);
        picks.forEach((id, r) => tokens[r].push(id));
      }
      out.push(...tokens);
      onProgress?.(out.length, prompts.length);
    }
  } finally {
    batch.destroy();
  }
  return out;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new MemorizationError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
