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
