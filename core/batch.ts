// SequenceBatch: several sequences decoded together. Decoding one sequence reads every weight
// for one token; a step here advances every active sequence by one token in one forward call, so
// the weights are read once for all of them (the matmuls become small GEMMs). Each sequence has
// its own KV cache stretch, position and picks (sampling settings, seed, repetition state); the
// attention kernels find each row's sequence and position in a row table (kernels/row_places.ts).
// Sequences start (prefill) and end between steps. A sequence that starts with tokens some cache
// already holds (a shared system prompt, few-shot examples) keeps them, copied over from another
// sequence's cache if need be, and prefills only the rest (keepSharedPrefix).

import { pickToken, seenBits } from "../kernels/pick_token.ts";
import { rowPlacesTable } from "../kernels/row_places.ts";
import type { GpuBatch, GpuContext } from "../kernels/gpu.ts";
import { isSoftwareAdapter } from "../kernels/tune.ts";
import { type ForwardState, recordForward, type TokenPick } from "./gemma.ts";
import {
  checkTokenIds,
  ContextError,
  copyCacheRows,
  createCacheScratch,
  createForwardState,
  destroyForwardState,
  PICK_STRIDE,
  ringsHold,
  sharedLength,
} from "./forward_state.ts";
import type { Gemma } from "./weights.ts";

/**
 * Sequences worth decoding together on `gpu`: 8 on a GPU, where a decode step is bound by reading
 * the weights; 4 on a software rasterizer, where a step's cost grows with its rows (lavapipe,
 * Gemma 3 270M: 4 sequences decode 2.0× one sequence's tokens/s, 8 only 1.75×).
 */
export function defaultParallel(gpu: GpuContext): number {
  return isSoftwareAdapter(gpu.adapterInfo) ? 4 : 8;
}

export interface BatchOptions {
  /** Sequences decoded together. */
  sequences: number;
  /** Positions each sequence's KV cache holds; default min(max_position_embeddings, 4096). */
  contextLength?: number;
  /** Tokens per prefill chunk; default 128. */
  maxBatchRows?: number;
}

/** One row of a step: which sequence advances, and how its next token is picked. */
export interface StepRow {
  sequence: number;
  pick: TokenPick;
}

/** A sequence that starts with a prompt (SequenceBatch.start, or a step's `joining`). */
export interface JoiningSequence {
  sequence: number;
  ids: number[];
  /** How many of `ids` its cache already holds (keepSharedPrefix); default 0. */
  kept?: number;
  /** The tokens a repetition penalty applies to. */
  seen?: Iterable<number>;
}

/** A row of a joining prompt: its sequence, position and token. */
interface JoinRow {
  sequence: number;
  position: number;
  id: number;
}

/** What a step read back, per row: its input token (the previous pick) and the new pick. */
export interface StepTokens {
  inputs: number[];
  picks: number[];
}

export class SequenceBatch {
  readonly model: Gemma;
  readonly state: ForwardState;
  /** Tokens in each sequence's cache. */
  readonly #positions: number[];
  /** Their ids (a step notes its inputs once it has read them back). */
  readonly #ids: number[][];
  /** Per sequence, the furthest position written since it last started from nothing. */
  readonly #written: number[];
  /** A layer's cache rows in transit from one sequence to another. */
  #scratch?: GPUBuffer;
  /** (maxRows) vec2<u32>: the rows' (position, sequence). */
  readonly #table: GPUBuffer;
  /** (2, sequences) u32: a step's inputs, then its picks, gathered for reading back. */
  readonly #out: GPUBuffer;
  /** Per sequence, its steps submitted and not yet read back. */
  readonly #unread: number[];
  /** The last step's read-back, once its inputs are noted (steps note theirs in order). */
  #lastRead: Promise<unknown> = Promise.resolve();

  constructor(model: Gemma, options: BatchOptions) {
    if (!Number.isInteger(options.sequences) || options.sequences < 1) {
      throw new RangeError(`sequences must be a positive integer, got ${options.sequences}`);
    }
    this.model = model;
    this.state = createForwardState(model, options);
    this.#positions = new Array(options.sequences).fill(0);
    this.#ids = Array.from({ length: options.sequences }, () => []);
    this.#written = new Array(options.sequences).fill(0);
    this.#unread = new Array(options.sequences).fill(0);
    this.#table = model.gpu.createBuffer(this.state.maxRows * 8, "row table");
    this.#out = model.gpu.createBuffer(options.sequences * 8, "step tokens");
  }

  get sequences(): number {
    return this.state.sequences;
  }

  /** 0 … sequences − 1. */
  get sequenceIndices(): number[] {
    return [...this.#positions.keys()];
  }

  get contextLength(): number {
    return this.state.capacity;
  }

  /** Tokens in sequence `s`'s cache. */
  position(s: number): number {
    return this.#positions[s];
  }

  /**
   * How many of `ids`' first tokens sequence `s`'s cache holds and can be continued from (at
   * most `limit`): a free sequence with the most of them is the one to start `ids` in.
   */
  sharedPrefix(s: number, ids: ArrayLike<number>, limit = ids.length - 1): number {
    // With steps not yet read back, the ids known are a prefix of those cached: a lower bound.
    this.#checkSequence(s);
    const keep = sharedLength(this.#ids[s], ids, limit);
    return ringsHold(this.model, this.state, this.#written[s], keep) ? keep : 0;
  }

  /**
   * Prepares sequence `s` to start with `ids`: keeps the longest beginning of them (at most
   * `limit`, default all but the last token, whose logits the prefill picks from) that any
   * sequence's cache holds and can be continued from, copying it over from that sequence when it
   * is another one (which is left as it was), and forgets the rest. Returns the length kept, for
   * `prefill`. `donors`: the sequences to look in besides `s` (default all).
   */
  keepSharedPrefix(
    s: number,
    ids: ArrayLike<number>,
    limit = ids.length - 1,
    donors: Iterable<number> = this.sequenceIndices,
  ): number {
    this.#checkSettled(s);
    const own = this.sharedPrefix(s, ids, limit);
    let best = { sequence: s, keep: own };
    for (const d of donors) {
      if (d === s) continue;
      const keep = this.sharedPrefix(d, ids, limit);
      if (keep > best.keep) best = { sequence: d, keep };
    }
    const { sequence: from, keep } = best;
    if (from !== s) {
      this.#scratch ??= createCacheScratch(this.model, this.state);
      const batch = this.model.gpu.batch();
      // Ring layers: every row the ring holds, for the window before `keep`.
      const written = this.#written[from];
      const windows = this.model.config.layerWindows;
      copyCacheRows(batch, this.model, this.state, this.#scratch, {
        from,
        to: [s],
        rows: (layer) => windows[layer] > 0 ? written : keep,
      });
      batch.submit();
      this.#ids[s] = this.#ids[from].slice(0, keep);
      this.#written[s] = written;
    }
    this.#truncate(s, keep);
    return keep;
  }

  /**
   * Starts sequence `s` with `ids` (in chunks of maxRows) and picks its first token, which the
   * next step reads back as that row's input. `seen`: the tokens a repetition penalty in `pick`
   * applies to. `kept`: how many of `ids` the sequence already holds (keepSharedPrefix); only
   * the rest is prefilled.
   */
  prefill(
    s: number,
    ids: number[],
    pick: TokenPick,
    seen?: Iterable<number>,
    kept = 0,
  ): void {
    this.#checkSettled(s);
    this.#checkPrompt(s, ids, kept);
    const gpu = this.model.gpu;
    const vocab = this.model.config.vocabSize;
    if (seen) gpu.write(this.state.seen, seenBits(seen, vocab), s * this.state.seenStride * 4);
    this.#truncate(s, kept);
    const { maxRows } = this.state;
    for (let start = kept; start < ids.length; start += maxRows) {
      const chunk = ids.slice(start, start + maxRows);
      const last = start + chunk.length === ids.length;
      const position0 = this.#positions[s];
      gpu.write(this.state.ids, new Uint32Array(chunk));
      const rows = chunk.map((_, t) => ({ sequence: s, position: position0 + t }));
      const batch = this.#forward(rows, last ? chunk.length - 1 : 0, last ? 1 : 0);
      if (last) this.#pick(batch, 0, s, pick);
      batch.submit();
      this.#advance(s, chunk.length, chunk);
    }
  }

  /**
   * Starts several sequences at once, for greedy continuations of many prompts: all but the last
   * token of each prompt (after the `kept` first, see keepSharedPrefix) run packed into shared
   * forward calls (rows of different sequences side by side, maxRows per call, no logits), and
   * each prompt's last token is left as its sequence's pending input, which the next step feeds
   * and picks the first new token after. One forward call thus prefills many short prompts, where
   * `prefill` runs one prompt per call; `step(rows, joining)` does the same inside a step.
   */
  start(prompts: JoiningSequence[]): void {
    this.#runRows(this.#join(prompts));
  }

  /**
   * Advances each row's sequence by one token: its input is the token last picked for it (by its
   * prefill or the previous step), and a new one is picked. Returns both, read back.
   * Everything but the read-back happens before the returned promise is first awaited, so the
   * next steps can be queued while this one's tokens travel back (pipelining, see lookahead.ts);
   * the read-backs resolve in step order. A sequence with steps not yet read back cannot start
   * again (prefill, join, keepSharedPrefix) until they are.
   * `joining`: sequences that start here, as `start` starts them, their prompts' rows (all but the
   * last token) run in this step's forward call as far as maxRows allows (the rest before it);
   * give them rows too, so that their last prompt token is their input and their first new token
   * is picked here.
   */
  async step(rows: StepRow[], joining: JoiningSequence[] = []): Promise<StepTokens> {
    const n = rows.length;
    if (n > this.sequences) throw new RangeError("step: more rows than sequences");
    const seen = new Set<number>();
    for (const { sequence } of rows) {
      this.#checkSequence(sequence);
      if (seen.has(sequence)) throw new RangeError(`step: sequence ${sequence} given twice`);
      seen.add(sequence);
    }
    const joinRows = this.#join(joining);
    for (const { sequence } of rows) {
      if (this.#positions[sequence] >= this.state.capacity) {
        throw new ContextError(`sequence ${sequence} filled its context of ${this.state.capacity}`);
      }
    }
    // What does not fit beside the step's rows runs before it (earliest positions first).
    const early = joinRows.length - Math.min(joinRows.length, this.state.maxRows - n);
    this.#runRows(joinRows.slice(0, early));
    const late = joinRows.slice(early);
    if (n === 0) {
      this.#runRows(late);
      return { inputs: [], picks: [] };
    }
    const gpu = this.model.gpu;
    // Written on the queue before the batch below is submitted: the late rows' ids come first.
    if (late.length > 0) gpu.write(this.state.ids, new Uint32Array(late.map((r) => r.id)));
    const batch = gpu.batch();
    const j = late.length;
    rows.forEach(({ sequence }, r) =>
      batch.copy(this.state.picked, sequence * PICK_STRIDE * 4, this.state.ids, (j + r) * 4, 4)
    );
    batch.copy(this.state.ids, j * 4, this.#out, 0, n * 4);
    const places = [
      ...late,
      ...rows.map(({ sequence }) => ({ sequence, position: this.#positions[sequence] })),
    ];
    this.#record(batch, places, j, n);
    rows.forEach(({ sequence, pick }, r) => {
      this.#pick(batch, r, sequence, pick);
      batch.copy(this.state.picked, sequence * PICK_STRIDE * 4, this.#out, (n + r) * 4, 4);
    });
    batch.submit();
    // Noted as the positions advance; their ids once read back, after every earlier step's.
    for (const { sequence } of rows) {
      this.#advance(sequence, 1);
      this.#unread[sequence] += 1;
    }
    const tokens = gpu.readU32(this.#out, 2 * n);
    const read = this.#lastRead.then(() => tokens).then((tokens) => {
      const inputs = Array.from(tokens.subarray(0, n));
      rows.forEach(({ sequence }, r) => {
        this.#ids[sequence].push(inputs[r]);
        this.#unread[sequence] -= 1;
      });
      return { inputs, picks: Array.from(tokens.subarray(n)) };
    });
    this.#lastRead = read.catch(() => {});
    return await read;
  }

  /** The token last picked for sequence `s`, read back (a step reads it back as its input). */
  async readPick(s: number): Promise<number> {
    this.#checkSequence(s);
    const batch = this.model.gpu.batch();
    batch.copy(this.state.picked, s * PICK_STRIDE * 4, this.#out, 0, 4);
    batch.submit();
    return (await this.model.gpu.readU32(this.#out, 1))[0];
  }

  /**
   * Checks joining sequences and their prompts, sets each one's cache to its prompt but the last
   * token (which becomes its pending input) and returns the rows that compute them, to be run.
   */
  #join(joining: JoiningSequence[]): JoinRow[] {
    const taken = new Set<number>();
    for (const { sequence, ids, kept = 0 } of joining) {
      this.#checkSettled(sequence);
      if (taken.has(sequence)) throw new RangeError(`sequence ${sequence} joins twice`);
      taken.add(sequence);
      this.#checkPrompt(sequence, ids, kept);
    }
    const rows: JoinRow[] = [];
    const gpu = this.model.gpu;
    const vocab = this.model.config.vocabSize;
    for (const { sequence, ids, kept = 0, seen } of joining) {
      for (let p = kept; p < ids.length - 1; p++) rows.push({ sequence, position: p, id: ids[p] });
      this.#truncate(sequence, kept);
      this.#advance(sequence, ids.length - 1 - kept, ids.slice(kept, -1));
      const last = new Uint32Array([ids[ids.length - 1]]);
      gpu.write(this.state.picked, last, sequence * PICK_STRIDE * 4);
      if (seen) {
        gpu.write(this.state.seen, seenBits(seen, vocab), sequence * this.state.seenStride * 4);
      }
    }
    return rows;
  }

  /** Runs rows of joining prompts in forward calls of maxRows, without logits. */
  #runRows(rows: JoinRow[]): void {
    for (let first = 0; first < rows.length; first += this.state.maxRows) {
      const chunk = rows.slice(first, first + this.state.maxRows);
      this.model.gpu.write(this.state.ids, new Uint32Array(chunk.map((r) => r.id)));
      this.#forward(chunk, 0, 0).submit();
    }
  }

  /** Throws unless `ids` is a prompt sequence `s` can start with, holding its first `kept`. */
  #checkPrompt(s: number, ids: number[], kept: number): void {
    if (ids.length === 0) throw new RangeError("no tokens in a prompt");
    if (ids.length > this.state.capacity) {
      throw new ContextError(
        `${ids.length} tokens do not fit in the context of ${this.state.capacity}`,
      );
    }
    if (
      !Number.isInteger(kept) || kept < 0 || kept >= ids.length ||
      kept > this.#ids[s].length || ids.slice(0, kept).some((id, i) => id !== this.#ids[s][i])
    ) {
      throw new RangeError(`sequence ${s} does not hold the first ${kept} tokens of its prompt`);
    }
    checkTokenIds(this.model, ids);
  }

  /** Forgets all but sequence `s`'s first `position` tokens (their cache rows are reused). */
  #truncate(s: number, position: number): void {
    this.#positions[s] = position;
    this.#ids[s].length = position;
    if (position === 0) this.#written[s] = 0;
  }

  /** Moves sequence `s` past `count` tokens whose rows were just written (and notes `ids`). */
  #advance(s: number, count: number, ids: number[] = []): void {
    this.#positions[s] += count;
    this.#ids[s].push(...ids);
    this.#written[s] = Math.max(this.#written[s], this.#positions[s]);
  }

  #forward(
    rows: { sequence: number; position: number }[],
    logitsFrom: number,
    logitRows: number,
  ): GpuBatch {
    const batch = this.model.gpu.batch();
    this.#record(batch, rows, logitsFrom, logitRows);
    return batch;
  }

  #record(
    batch: GpuBatch,
    rows: { sequence: number; position: number }[],
    logitsFrom: number,
    logitRows: number,
  ): void {
    const places = {
      positions: rows.map((r) => r.position),
      sequences: rows.map((r) => r.sequence),
    };
    // Written on the queue before this batch is submitted, after every earlier batch has run.
    this.model.gpu.write(this.#table, rowPlacesTable(places));
    recordForward(batch, this.model, this.state, {
      rows: rows.length,
      position0: 0,
      places: { table: this.#table, lastPosition: Math.max(...places.positions) },
      logitsFrom,
      logitRows,
    });
  }

  /** Picks sequence `s`'s next token from logits row `row` into its `picked` row. */
  #pick(batch: GpuBatch, row: number, s: number, pick: TokenPick): void {
    const { logits, logitStride, picked, seen, seenStride } = this.state;
    const vocab = this.model.config.vocabSize;
    const penalized = (pick.repetitionPenalty ?? 1) !== 1;
    pickToken(batch, {
      x: { buffer: logits, offset: row * logitStride * 4, size: vocab * 4 },
      n: vocab,
      out: { buffer: picked, offset: s * PICK_STRIDE * 4, size: 4 },
      sample: pick.sample,
      repetitionPenalty: pick.repetitionPenalty,
      seen: penalized
        ? { buffer: seen, offset: s * seenStride * 4, size: Math.ceil(vocab / 32) * 4 }
        : undefined,
    });
  }

  #checkSequence(s: number): void {
    if (!Number.isInteger(s) || s < 0 || s >= this.sequences) {
      throw new RangeError(`no sequence ${s} in a batch of ${this.sequences}`);
    }
  }

  /** Throws unless `s` is a sequence whose steps were all read back (its ids are known). */
  #checkSettled(s: number): void {
    this.#checkSequence(s);
    if (this.#unread[s] > 0) {
      throw new RangeError(`sequence ${s} has ${this.#unread[s]} steps not yet read back`);
    }
  }

  destroy(): void {
    destroyForwardState(this.state);
    this.#table.destroy();
    this.#out.destroy();
    this.#scratch?.destroy();
  }
}
