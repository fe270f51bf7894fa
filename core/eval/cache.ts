// A resumable score cache: an append-only JSON-lines file of request key → log-likelihood score.
// Each score is written (one line, one write call, no buffering) as soon as it is computed, so a
// run killed at any moment loses at most the line being written; on opening, a torn last line is
// cut off and every complete line is kept. The key is a SHA-256 of the namespace (the model and
// the settings that change scores) and the request's context and continuation, so one file can
// serve several models or settings without mixing their scores.

import { createHash } from "node:crypto";
import type { LoglikelihoodRequest, LoglikelihoodScore } from "./requests.ts";
import { EvalDataError } from "./data.ts";

export class ScoreCache {
  readonly #scores = new Map<string, LoglikelihoodScore>();
  readonly #namespace: string;
  readonly #file: Deno.FsFile;
  readonly #encoder = new TextEncoder();

  private constructor(namespace: string, file: Deno.FsFile) {
    this.#namespace = namespace;
    this.#file = file;
  }

  /** Opens (or creates) `path`, reading every complete line; a torn last line is dropped. */
  static async open(path: string, namespace: string): Promise<ScoreCache> {
    let text = "";
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new EvalDataError(`Cannot read the cache "${path}": ${(error as Error).message}`);
      }
    }
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    const file = await Deno.open(path, { create: true, write: true, read: true });
    // Cut a torn last line so that the next line starts on a line of its own.
    if (complete.length < text.length) {
      await file.truncate(new TextEncoder().encode(complete).length);
    }
    await file.seek(0, Deno.SeekMode.End);
    const cache = new ScoreCache(namespace, file);
    complete.split("\n").forEach((line, i) => {
      if (line === "") return;
      let entry: { key?: unknown } & Partial<LoglikelihoodScore>;
      try {
        entry = JSON.parse(line);
      } catch {
        throw new EvalDataError(`${path}:${i + 1}: not a cache line (invalid JSON)`);
      }
      const { key, logprob, isGreedy, tokens, truncated } = entry;
      if (
        typeof key !== "string" || typeof logprob !== "number" || typeof isGreedy !== "boolean" ||
        typeof tokens !== "number" || typeof truncated !== "number"
      ) {
        throw new EvalDataError(`${path}:${i + 1}: not a cache line (key, logprob, isGreedy, …)`);
      }
      cache.#scores.set(key, { logprob, isGreedy, tokens, truncated });
    });
    return cache;
  }

  /** Scores held (read from the file or added since). */
  get size(): number {
    return this.#scores.size;
  }

  key(request: LoglikelihoodRequest): string {
    return createHash("sha256")
      .update(JSON.stringify([this.#namespace, request.context, request.continuation]))
      .digest("hex");
  }

  get(request: LoglikelihoodRequest): LoglikelihoodScore | undefined {
    return this.#scores.get(this.key(request));
  }

  /** Records a score and appends its line to the file at once. */
  put(request: LoglikelihoodRequest, score: LoglikelihoodScore): void {
    const key = this.key(request);
    if (this.#scores.has(key)) return;
    this.#scores.set(key, score);
    const { logprob, isGreedy, tokens, truncated } = score;
    const line = JSON.stringify({ key, logprob, isGreedy, tokens, truncated }) + "\n";
    const bytes = this.#encoder.encode(line);
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
  }

  close(): void {
    this.#file.close();
  }
}
