// How many decode steps to keep queued ahead of the token being read back. A step's input is
// the token the previous step picked on the GPU, so steps can be queued before their inputs
// reach the CPU; the CPU only needs each token to decide when to stop. A token's trip back takes
// a fixed latency (on Deno at least one device poll, ~11 ms, however fast the GPU), so with one
// step at a time a GPU that steps in 4 ms idles most of the time. Enough steps in flight to
// cover that latency at the pace tokens arrive keep it busy; each one beyond a sequence's end is
// work thrown away, so no more than that.

export class Lookahead {
  /** Steps to keep in flight now. */
  depth: number;
  readonly #latencyMs: number;
  readonly #limit: number;
  readonly #fixed: boolean;
  /** Milliseconds between token arrivals, smoothed. */
  #interval = 0;
  #lastArrival = 0;

  /**
   * `latencyMs`: a readback's round trip on an idle device (GpuContext.readbackLatencyMs).
   * `limit`: the most steps in flight. `fixed`: always `limit` steps (no adapting).
   */
  constructor(latencyMs: number, limit: number, fixed = false) {
    this.#latencyMs = latencyMs;
    this.#limit = Math.max(1, limit);
    this.#fixed = fixed;
    this.depth = fixed ? this.#limit : Math.min(2, this.#limit);
  }

  /**
   * Notes that a step's token arrived and adapts the depth to cover a round trip at the pace
   * tokens arrive. That pace is the GPU's step time while it is kept busy. A round trip counts as
   * two idle latencies: a read queued behind other steps waits for them and then for the next
   * device poll, so one latency lets the depth settle where the polls set the pace, not the GPU
   * (an H200 decoding Gemma 3 270M settled at 3 steps and 133 tokens/s, its GPU time ~3.5 ms).
   */
  arrived(now = performance.now()): void {
    if (this.#lastArrival > 0 && !this.#fixed) {
      const gap = now - this.#lastArrival;
      this.#interval = this.#interval > 0 ? 0.7 * this.#interval + 0.3 * gap : gap;
      const cover = Math.ceil((2 * this.#latencyMs) / Math.max(this.#interval, 0.01)) + 1;
      this.depth = Math.min(this.#limit, Math.max(2, cover));
    }
    this.#lastArrival = now;
  }
}

/** The most steps queued ahead of the one being read back: a session's decode, a StepQueue's. */
export const MAX_STEPS_AHEAD = 8;

/**
 * Steps of a SequenceBatch queued ahead of their read-backs, as deep as a Lookahead says: what
 * generateMany, the memorization probe and the bench share. Each entry carries its step's
 * `tokens` (the promise SequenceBatch.step returned) and whatever its caller notes beside them.
 */
export class StepQueue<T extends { tokens: Promise<unknown> }> {
  readonly #queued: T[] = [];
  readonly #lookahead: Lookahead;

  constructor(latencyMs: number, limit = MAX_STEPS_AHEAD) {
    this.#lookahead = new Lookahead(latencyMs, limit);
  }

  get length(): number {
    return this.#queued.length;
  }

  /**
   * Whether another step may be queued: always into an empty queue; otherwise not while
   * sequences wait to start (`waiting`: starting needs every queued step read back), and only
   * up to the lookahead's depth.
   */
  hasRoom(waiting: boolean): boolean {
    const n = this.#queued.length;
    return n === 0 || (!waiting && n < this.#lookahead.depth);
  }

  push(step: T): void {
    step.tokens.catch(() => {}); // a failure surfaces where it is awaited, not as unhandled
    this.#queued.push(step);
  }

  /** The oldest step, with its tokens once they arrived. */
  async next(): Promise<{ step: T; tokens: Awaited<T["tokens"]> }> {
    const step = this.#queued.shift();
    // Callers read only while some sequence has its last step queued.
    if (!step) throw new Error("no queued step to read back");
    const tokens = await step.tokens as Awaited<T["tokens"]>;
    this.#lookahead.arrived();
    return { step, tokens };
  }

  /** Waits until every queued step's read-back settled (before the batch's buffers go). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#queued.map((step) => step.tokens));
  }
}
