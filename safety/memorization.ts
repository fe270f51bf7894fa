// The memorization probe of the Gemma reports: sample windows of prefix + suffix tokens from a
// corpus, prompt the model with `<bos>` + the prefix (as token ids: no text round trip), decode
// the suffix greedily and compare it with the true one (memorization_score.ts). An EOS is a token
// like any other (no stop at it). A window stops as soon as its edit distance to the truth must
// exceed the approximate limit, whatever tokens follow: exact and approximate counts and the
// longest common prefix are those of the full decode, at a fraction of its cost, since most
// windows are not memorized (`fullSuffix` decodes every token, for exact distances of all).
// Windows decode many at a time: continuous batching over a SequenceBatch, new windows' prompts
// prefilled packed together (SequenceBatch.start), all advancing one token per forward call.

import {
  type Gemma,
  type GemmaTokenizer,
  maxSequences,
  SequenceBatch,
  StepQueue,
  type StepTokens,
} from "../core/mod.ts";
import type { CorpusFile } from "./corpus.ts";
import {
  approximateLimit,
  EditDistanceRow,
  scoreContinuation,
  type WindowScore,
} from "./memorization_score.ts";
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
  /**
   * Decode every suffix token, even of windows whose edit distance already exceeds the
   * approximate limit (exact distances for all, at several times the cost); default false.
   */
  fullSuffix?: boolean;
  /** Called as windows finish, with the windows done and their total. */
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
    const longest = documents.reduce((most, d) => Math.max(most, d.ids.length), 0);
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
    places.map((p) => p.suffixIds),
    {
      parallel,
      stopAbove: options.fullSuffix ? undefined : approximateLimit(suffix),
      onProgress: options.onProgress,
    },
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

export interface ContinuationOptions {
  /** Sequences decoded together. */
  parallel: number;
  /**
   * Stop a continuation as soon as its edit distance to the truth must exceed this (its
   * remaining tokens cannot make it approximate memorization); undefined: decode every token.
   */
  stopAbove?: number;
  /** Called as continuations finish, with how many are done and their total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Greedy continuations of `prompts`, as long as their `truths` (or shorter with `stopAbove`), up to
 * `parallel` at a time: continuous batching, a finished window's sequence taking the next prompt
 * between steps, new prompts prefilled together inside the step that picks their first tokens.
 */
export async function greedyContinuations(
  model: Gemma,
  prompts: number[][],
  truths: number[][],
  options: ContinuationOptions,
): Promise<number[][]> {
  const longest = prompts.reduce(
    (most, p, i) => Math.max(most, p.length + truths[i].length - 1),
    1,
  );
  const batch = new SequenceBatch(model, { sequences: options.parallel, contextLength: longest });
  const out: number[][] = prompts.map(() => []);
  type Continuation = { window: number; distance: EditDistanceRow };
  const active = new Map<number, Continuation>();
  const free = Array.from({ length: options.parallel }, (_, s) => options.parallel - 1 - s);
  // Steps pipelined as generateMany runs them (core/lookahead.ts): new prompts start once every
  // queued step is read back, and a window may run a few steps past its end (dropped).
  const queued = new StepQueue<{ rows: [number, Continuation][]; tokens: Promise<StepTokens> }>(
    await model.gpu.readbackLatencyMs(),
  );
  let next = 0;
  let done = 0;
  try {
    while (next < prompts.length || active.size > 0) {
      const starting: { sequence: number; ids: number[] }[] = [];
      while (queued.length === 0 && free.length > 0 && next < prompts.length) {
        const sequence = free.pop()!;
        active.set(sequence, { window: next, distance: new EditDistanceRow(truths[next]) });
        starting.push({ sequence, ids: prompts[next++] });
      }
      // (A starting sequence's position is its last window's until the step starts it.)
      const rows = [...active].filter(([s]) =>
        starting.some((start) => start.sequence === s) || batch.position(s) < batch.contextLength
      );
      if (rows.length > 0 && queued.hasRoom(free.length > 0 && next < prompts.length)) {
        const tokens = batch.step(rows.map(([sequence]) => ({ sequence, pick: {} })), starting);
        queued.push({ rows, tokens });
        continue;
      }
      // Each active window either can step or has its last step queued.
      const { step, tokens: { picks } } = await queued.next();
      step.rows.forEach(([sequence, continuation], r) => {
        if (active.get(sequence) !== continuation) return; // it ended at an earlier step
        const { window, distance } = continuation;
        out[window].push(picks[r]);
        distance.push(picks[r]);
        const outOfReach = options.stopAbove !== undefined &&
          distance.lowerBound > options.stopAbove;
        if (out[window].length === truths[window].length || outOfReach) {
          active.delete(sequence);
          free.push(sequence);
          options.onProgress?.(++done, prompts.length);
        }
      });
    }
  } finally {
    await queued.settle();
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
