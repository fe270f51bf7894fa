// GemmaSession: one sequence being processed by a model. It owns the KV cache (allocated once for
// the context length actually used) and scratch buffers sized for a prefill chunk, so decoding
// allocates nothing per token. Callers append tokens and read the last token's logits (or only
// its argmax, which reads back 4 bytes instead of vocab × 4).

import type { GpuBatch } from "../kernels/gpu.ts";
import { tokenLogprob } from "../kernels/token_logprob.ts";
import { rowPlacesTable } from "../kernels/row_places.ts";
import { type ForwardState, pickLogitsRow0, recordForward, type TokenPick } from "./gemma.ts";
import { seenBits } from "../kernels/pick_token.ts";
import type { Gemma } from "./weights.ts";
import { Lookahead, MAX_STEPS_AHEAD } from "./lookahead.ts";
import {
  checkTokenIds,
  ContextError,
  copyCacheRows,
  createCacheScratch,
  createForwardState,
  destroyForwardState,
  ringsHold,
  sharedLength,
} from "./forward_state.ts";

export { ContextError };

export interface DecodeOptions {
  /** How each next token is picked (called once per step); default: the argmax. */
  picks?: () => TokenPick;
  /** The tokens a repetition penalty in `picks` applies to (the sequence so far). */
  seen?: Iterable<number>;
  /** Steps in flight, fixed (at most MAX_STEPS_AHEAD and maxBatchRows); default: adapted to the pace. */
  lookahead?: number;
}

export interface SessionOptions {
  /** Positions the KV cache holds; default min(max_position_embeddings, 4096). */
  contextLength?: number;
  /** Tokens per prefill chunk (a longer prompt runs in several chunks); default 128. */
  maxBatchRows?: number;
  /**
   * KV caches besides the session's own, for scoring several continuations of its tokens in one
   * forward call (`scoreBranches`, eval's choices); default 0.
   */
  branches?: number;
}

/** A continuation's tokens after its first, scored: log P(token) and whether it was the argmax. */
export interface BranchScores {
  logprobs: number[];
  greedy: boolean[];
}

export class GemmaSession {
  readonly model: Gemma;
  readonly state: ForwardState;
  /** Tokens in the KV cache. */
  #position = 0;
  /** Their ids (decode notes its tokens when it ends). */
  #ids: number[] = [];
  /** The furthest position written since the last reset: how far ring caches may have wrapped. */
  #written = 0;
  /** True when `state.logits` row 0 holds the logits after the last appended token. */
  #hasLogits = false;

  /** (maxRows) vec2<u32>: the rows' (position, sequence) for scoreBranches. */
  #table?: GPUBuffer;
  /** A layer's cache rows in transit to the branches (a buffer cannot be copied onto itself). */
  #prefix?: GPUBuffer;

  constructor(model: Gemma, options: SessionOptions = {}) {
    this.model = model;
    this.state = createForwardState(model, {
      ...options,
      sequences: 1 + (options.branches ?? 0),
    });
  }

  /** KV caches for scoreBranches (sequences 1 … branches of the state; the session is 0). */
  get branches(): number {
    return this.state.sequences - 1;
  }

  /** The longest continuation scoreBranches takes: this many tokens after its first. */
  get maxBranchRows(): number {
    return Math.min(this.state.maxRows, this.state.maxLogitRows);
  }

  /** Tokens in the KV cache. */
  get position(): number {
    return this.#position;
  }

  get contextLength(): number {
    return this.state.capacity;
  }

  /**
   * Forgets everything after the first `position` tokens (the cache rows are simply reused).
   * Check `canTruncate` first: a sliding-window layer's ring may have lost rows the tokens after
   * `position` would attend to.
   */
  truncate(position: number): void {
    if (position < 0 || position > this.#position) throw new RangeError("truncate: bad position");
    this.#position = position;
    this.#ids.length = position;
    this.#hasLogits = false;
    if (position === 0) this.#written = 0;
  }

  /**
   * Keeps the longest beginning of `ids` (at most `limit` tokens, default all but the last, whose
   * logits the caller will want) that the session holds and can still continue from, forgets the
   * rest, and returns its length: appending `ids` from there costs only the tokens after it.
   * Prompts that share their start (few-shot examples, a chat's earlier turns) prefill it once.
   */
  keepSharedPrefix(ids: ArrayLike<number>, limit = ids.length - 1): number {
    let keep = sharedLength(this.#ids, ids, Math.min(limit, this.#position));
    if (!this.canTruncate(keep)) keep = 0;
    this.truncate(keep);
    return keep;
  }

  /**
   * Whether the first `position` tokens can be kept and continued from: every sliding-window
   * layer still holds the rows of the window before `position` (see ringsHold).
   */
  canTruncate(position: number): boolean {
    if (position < 0 || position > this.#position) return false;
    return ringsHold(this.model, this.state, this.#written, position);
  }

  reset(): void {
    this.truncate(0);
  }

  /**
   * Appends tokens to the sequence (prefill: chunks of up to maxBatchRows in one submit each)
   * and leaves the logits after the last of them ready for `logits()` / `argmax()`.
   */
  append(ids: ArrayLike<number>): void {
    this.#checkRoom(ids.length);
    const all = Array.from(ids);
    const { maxRows } = this.state;
    for (let start = 0; start < ids.length; start += maxRows) {
      const rows = Math.min(maxRows, ids.length - start);
      const last = start + rows === ids.length;
      this.#run(all.slice(start, start + rows), last ? rows - 1 : 0, last ? 1 : 0);
    }
    this.#hasLogits = ids.length > 0;
  }

  /** The logits (vocab) after the last appended token. */
  async logits(): Promise<Float32Array> {
    this.#needLogits();
    return await this.model.gpu.readF32(this.state.logits, this.model.config.vocabSize);
  }

  /** argmax of the logits after the last appended token, computed on the GPU. */
  async argmax(): Promise<number> {
    this.#needLogits();
    return (await this.model.gpu.readU32(this.state.picked, 1))[0];
  }

  /**
   * Decoding, pipelined. A plain loop of `append([id])` + `await argmax()` leaves the GPU idle
   * while each id travels back (on Deno at least one ~11 ms device poll, whatever the GPU). Here
   * each step takes its input token from the token the previous step picked on the GPU, so the
   * next steps are already queued while an id is on its way back. Tokens are the argmax, or as
   * `options.picks` says: samples, and a repetition penalty (see pick_token.wgsl).
   *
   * Calls `accept` with each token, starting with the one after the last appended token, until it
   * returns false, `maxTokens` tokens were seen or the context is full. The session is then left
   * as that loop leaves it: every token seen but the last appended; the steps that ran ahead are
   * undone (their KV rows are rewritten later; ring caches keep maxRows spare rows, and no more
   * than maxRows steps run ahead).
   */
  async decode(
    maxTokens: number,
    accept: (id: number) => boolean,
    options: DecodeOptions = {},
  ): Promise<void> {
    this.#needLogits();
    const gpu = this.model.gpu;
    const vocab = this.model.config.vocabSize;
    const pick = () => options.picks?.() ?? {};
    if (options.seen) gpu.write(this.state.seen, seenBits(options.seen, vocab));
    const start = this.#position;
    const limit = Math.max(
      1,
      Math.min(MAX_STEPS_AHEAD, this.state.maxRows, options.lookahead ?? MAX_STEPS_AHEAD),
    );
    const staging = Array.from(
      { length: limit + 1 },
      () =>
        gpu.device.createBuffer({
          size: 4,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        }),
    );
    // In flight: a step's id and the buffer it comes back in.
    const inFlight: { id: Promise<number>; buffer: GPUBuffer }[] = [];
    const free = [...staging];
    const readBack = (batch: GpuBatch) => {
      const buffer = free.pop()!;
      batch.copy(this.state.picked, 0, buffer, 0, 4);
      batch.submit();
      const id = buffer.mapAsync(GPUMapMode.READ).then(() => {
        const value = new Uint32Array(buffer.getMappedRange())[0];
        buffer.unmap();
        return value;
      });
      inFlight.push({ id, buffer });
    };
    const taken: number[] = [];
    // Steps run (this.#position − start) = tokens appended by this call. Token n (from 0) is
    // picked after step n.
    let seen = 0;
    const lookahead = new Lookahead(
      await gpu.readbackLatencyMs(),
      limit,
      options.lookahead !== undefined,
    );
    try {
      // Token 0: the plain argmax is already in state.picked (append); any other pick is made now.
      const first = gpu.batch();
      if (options.picks) pickLogitsRow0(first, this.state, vocab, pick());
      readBack(first);
      while (seen < maxTokens) {
        // Each step needs a free position; token n exists only if n < maxTokens.
        while (
          inFlight.length < lookahead.depth && this.#position - start + 1 < maxTokens &&
          this.#position < this.state.capacity
        ) {
          const batch = gpu.batch();
          batch.copy(this.state.picked, 0, this.state.ids, 0, 4);
          recordForward(batch, this.model, this.state, {
            rows: 1,
            position0: this.#position,
            logitsFrom: 0,
            logitRows: 1,
            pick: pick(),
          });
          this.#advance(1);
          readBack(batch);
        }
        const next = inFlight.shift();
        if (!next) break; // the context is full
        const id = await next.id;
        free.push(next.buffer);
        lookahead.arrived();
        seen += 1;
        taken.push(id);
        if (!accept(id)) break;
      }
    } finally {
      // Token n was produced by step n; tokens 0 … seen − 2 stay appended (also when `accept`
      // threw: the steps run ahead are undone either way).
      this.#position = start + Math.max(0, seen - 1);
      this.#ids.length = start;
      this.#ids.push(...taken.slice(0, this.#position - start));
      this.#hasLogits = false;
      // Let every read finish before its buffer goes.
      await Promise.allSettled(inFlight.map((f) => f.id));
      for (const buffer of staging) buffer.destroy();
    }
  }

  /**
   * Appends tokens and returns the logits after each of them: (ids.length, vocab), row t
   * predicting token t + 1. For scoring (eval) and for tests.
   */
  async appendWithAllLogits(ids: ArrayLike<number>): Promise<Float32Array> {
    this.#checkRoom(ids.length);
    const all = Array.from(ids);
    const vocab = this.model.config.vocabSize;
    const out = new Float32Array(ids.length * vocab);
    const step = this.state.maxLogitRows;
    for (let start = 0; start < ids.length; start += step) {
      const rows = Math.min(step, ids.length - start);
      this.#run(all.slice(start, start + rows), 0, rows);
      out.set(await this.model.gpu.readF32(this.state.logits, rows * vocab), start * vocab);
    }
    // Row 0 of the logits buffer no longer holds the last token's logits unless rows == 1.
    this.#hasLogits = false;
    return out;
  }

  /**
   * Runs one decode step for `id` in a profiling batch (one operation at a time) and returns
   * the milliseconds and weight bytes per section of the forward pass. For benchmarks.
   */
  async profileDecodeStep(id: number): Promise<Map<string, { ms: number; weightBytes: number }>> {
    this.#checkRoom(1);
    const gpu = this.model.gpu;
    gpu.write(this.state.ids, new Uint32Array([id]));
    const batch = gpu.batch({ profile: true });
    recordForward(batch, this.model, this.state, {
      rows: 1,
      position0: this.#position,
      logitsFrom: 0,
      logitRows: 1,
      pick: {},
    });
    const profile = await batch.profile();
    this.#advance(1, [id]);
    this.#hasLogits = true;
    return profile;
  }

  /**
   * Appends tokens and scores them: `logprobs[t]` = log P(ids[t + 1] | everything before it),
   * and `greedy[t]` whether ids[t + 1] was the most likely token (ids.length − 1 entries).
   * Computed on the GPU; only two floats per token come back. For eval (loglikelihood).
   */
  async appendAndScore(
    ids: ArrayLike<number>,
  ): Promise<{ logprobs: Float32Array; greedy: boolean[] }> {
    this.#checkRoom(ids.length);
    const all = Array.from(ids);
    const scored = Math.max(0, all.length - 1);
    const logprobs = new Float32Array(scored);
    const greedy: boolean[] = [];
    const step = this.state.maxLogitRows;
    const vocab = this.model.config.vocabSize;
    for (let start = 0; start < all.length; start += step) {
      const chunk = all.slice(start, start + step);
      const targets = all.slice(start + 1, start + 1 + chunk.length); // one short at the very end
      if (targets.length > 0) this.model.gpu.write(this.state.targets, new Uint32Array(targets));
      // Logits only for the rows that have a target: the very last token's are never used (for
      // eval's continuations, one output head row of ~5 saved per request).
      this.#run(chunk, 0, targets.length, (batch) => {
        if (targets.length === 0) return;
        batch.mark("token log-probabilities");
        tokenLogprob(batch, {
          logits: this.state.logits,
          targets: this.state.targets,
          out: this.state.scores,
          rows: targets.length,
          vocab,
        });
      });
      if (targets.length === 0) continue;
      const scores = await this.model.gpu.readF32(this.state.scores, targets.length * 2);
      for (let i = 0; i < targets.length; i++) {
        logprobs[start + i] = scores[2 * i];
        greedy.push(scores[2 * i + 1] === 1);
      }
    }
    this.#hasLogits = false;
    return { logprobs, greedy };
  }

  /**
   * Scores continuations of the session's tokens, each in a KV cache of its own that starts as a
   * copy of the session's, several in one forward call: for each continuation, tokens 1 … n − 1
   * given the ones before (token 0 is scored by the logits after the session's last token). The
   * session itself is left as it was, but for its logits. Each continuation has at most
   * maxBranchRows + 1 tokens.
   */
  async scoreBranches(continuations: number[][]): Promise<BranchScores[]> {
    if (this.branches < 1) throw new Error("scoreBranches: the session has no branches");
    const out: BranchScores[] = continuations.map(() => ({ logprobs: [], greedy: [] }));
    const limit = this.maxBranchRows;
    let group: number[] = [];
    let rows = 0;
    for (const [i, c] of continuations.entries()) {
      const n = Math.max(0, c.length - 1);
      if (n > limit) throw new RangeError(`scoreBranches: ${c.length} tokens exceed ${limit + 1}`);
      this.#checkRoom(n);
      if (n === 0) continue;
      if (group.length === this.branches || rows + n > limit) {
        await this.#scoreGroup(group, continuations, out);
        group = [];
        rows = 0;
      }
      group.push(i);
      rows += n;
    }
    if (group.length > 0) await this.#scoreGroup(group, continuations, out);
    this.#hasLogits = false;
    return out;
  }

  /** One forward call for continuations `group` (branch b + 1 holds group[b]). */
  async #scoreGroup(group: number[], all: number[][], out: BranchScores[]): Promise<void> {
    const { gpu, config: c } = this.model;
    const s = this.state;
    const batch = gpu.batch();
    // Each branch's cache starts as the session's (ring layers: the rows the ring holds).
    this.#prefix ??= createCacheScratch(this.model, s);
    copyCacheRows(batch, this.model, s, this.#prefix, {
      from: 0,
      to: group.map((_, b) => b + 1),
      rows: () => this.#position,
    });
    const ids: number[] = [];
    const targets: number[] = [];
    const places = { positions: [] as number[], sequences: [] as number[] };
    group.forEach((i, b) => {
      const tokens = all[i];
      for (let j = 0; j + 1 < tokens.length; j++) {
        ids.push(tokens[j]);
        targets.push(tokens[j + 1]);
        places.positions.push(this.#position + j);
        places.sequences.push(b + 1);
      }
    });
    checkTokenIds(this.model, ids);
    this.#table ??= gpu.createBuffer(s.maxRows * 8, "row table");
    gpu.write(s.ids, new Uint32Array(ids));
    gpu.write(s.targets, new Uint32Array(targets));
    gpu.write(this.#table, rowPlacesTable(places));
    recordForward(batch, this.model, s, {
      rows: ids.length,
      position0: 0,
      places: { table: this.#table, lastPosition: Math.max(...places.positions) },
      logitsFrom: 0,
      logitRows: ids.length,
    });
    batch.mark("token log-probabilities");
    tokenLogprob(batch, {
      logits: s.logits,
      targets: s.targets,
      out: s.scores,
      rows: ids.length,
      vocab: c.vocabSize,
      stride: s.logitStride,
    });
    batch.submit();
    const scores = await gpu.readF32(s.scores, ids.length * 2);
    let row = 0;
    for (const i of group) {
      for (let j = 0; j + 1 < all[i].length; j++, row++) {
        out[i].logprobs.push(scores[2 * row]);
        out[i].greedy.push(scores[2 * row + 1] === 1);
      }
    }
  }

  #run(
    ids: number[],
    logitsFrom: number,
    logitRows: number,
    after?: (batch: GpuBatch) => void,
  ): void {
    const gpu = this.model.gpu;
    checkTokenIds(this.model, ids);
    gpu.write(this.state.ids, new Uint32Array(ids));
    const batch = gpu.batch();
    recordForward(batch, this.model, this.state, {
      rows: ids.length,
      position0: this.#position,
      logitsFrom,
      logitRows,
      pick: logitRows === 1 ? {} : undefined,
    });
    after?.(batch);
    batch.submit();
    this.#advance(ids.length, ids);
  }

  /** Moves past `count` tokens whose rows were just written (and notes their ids, if known). */
  #advance(count: number, ids?: number[]): void {
    this.#position += count;
    if (ids) this.#ids.push(...ids);
    this.#written = Math.max(this.#written, this.#position);
  }

  #checkRoom(count: number): void {
    if (this.#position + count > this.state.capacity) {
      throw new ContextError(
        `${this.#position + count} tokens do not fit in the context of ${this.state.capacity}`,
      );
    }
  }

  #needLogits(): void {
    if (!this.#hasLogits) throw new Error("no logits: append tokens first");
  }

  destroy(): void {
    destroyForwardState(this.state);
    this.#table?.destroy();
    this.#prefix?.destroy();
  }
}
