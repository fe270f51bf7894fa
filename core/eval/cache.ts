// A resumable score cache: an append-only JSON-lines file of request key → log-likelihood score.
// Each score is written (one line, one write call, no buffering) as soon as it is computed, so a
// run killed at any moment loses at most the line being written; on opening, a torn last line is
// cut off and every complete line is kept. The key is a SHA-256 of the namespace (the model and
// the settings that change scores) and the request's context and continuation, so one file can
// serve several models or settings without mixing their scores.
// Generated answers (generate_until) are kept the same way, in lines with a "generation" field,
// keyed by the context, the stop strings and max_gen_toks.

import { createHash } from "node:crypto";
import type { Generation, GenerationRequest } from "./generate_until.ts";
import type { LoglikelihoodRequest, LoglikelihoodScore } from "./requests.ts";
import { EvalDataError } from "./data.ts";

export class ScoreCache {
  readonly #scores = new Map<string, LoglikelihoodScore>();
  readonly #generations = new Map<string, Generation>();
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
      let entry: { key?: unknown; generation?: unknown } & Partial<LoglikelihoodScore>;
      try {
        entry = JSON.parse(line);
      } catch {
        throw new EvalDataError(`${path}:${i + 1}: not a cache line (invalid JSON)`);
      }
      if (entry.generation !== undefined) {
        const g = entry.generation as Partial<Generation>;
        if (
          typeof entry.key !== "string" || typeof g.text !== "string" ||
          typeof g.tokens !== "number" || typeof g.truncated !== "number" ||
          !Array.isArray(g.tokenIds) || !g.tokenIds.every((id) => Number.isInteger(id))
        ) {
          throw new EvalDataError(
            `${path}:${i + 1}: not a cache line (a generation needs key, text, …)`,
          );
        }
        const { text, tokens, tokenIds, truncated } = g;
        cache.#generations.set(entry.key, { text, tokens, tokenIds, truncated });
        return;
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

  /** Scores and generations held (read from the file or added since). */
  get size(): number {
    return this.#scores.size + this.#generations.size;
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
    this.#append({ key, logprob, isGreedy, tokens, truncated });
  }

  generationKey(request: GenerationRequest): string {
    return createHash("sha256")
      .update(JSON.stringify([
        this.#namespace,
        "generate_until",
        request.context,
        request.until,
        request.maxGenToks,
      ]))
      .digest("hex");
  }

  getGeneration(request: GenerationRequest): Generation | undefined {
    return this.#generations.get(this.generationKey(request));
  }

  /** Records a generated answer and appends its line to the file at once. */
  putGeneration(request: GenerationRequest, generation: Generation): void {
    const key = this.generationKey(request);
    if (this.#generations.has(key)) return;
    const { text, tokens, tokenIds, truncated } = generation;
    this.#generations.set(key, { text, tokens, tokenIds, truncated });
    this.#append({ key, generation: { text, tokens, tokenIds, truncated } });
  }

  /** One line, one write call: a kill loses at most this line (cut off on the next open). */
  #append(entry: unknown): void {
    const bytes = this.#encoder.encode(JSON.stringify(entry) + "\n");
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
  }

  close(): void {
    this.#file.close();
  }
}
