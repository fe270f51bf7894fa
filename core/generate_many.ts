// Many generations at once (continuous batching): up to `parallel` requests decode together in a
// SequenceBatch; a request that finishes frees its sequence for the next one between steps.
// Each request keeps its own sampler (seed, draws) and stop rules, so its tokens are those that
// `generate` alone gives (up to the rounding of batched matmuls; see tests/batch_test.ts).
// A prompt starts in the free sequence whose cache holds most of its beginning, and keeps what
// any cache holds of it (SequenceBatch.keepSharedPrefix): a shared system prompt or few-shot
// examples are prefilled once per batch, not once per prompt.
// Steps are pipelined (lookahead.ts): the next ones are queued while a step's tokens travel
// back, so a sequence may run a few steps past its end (that work is dropped); prompts join
// once every queued step is read back.

import { type JoiningSequence, SequenceBatch, type StepTokens } from "./batch.ts";
import { sharedLength } from "./forward_state.ts";
import type { TokenPick } from "./gemma.ts";
import { type GenerateOptions, type GenerateResult, Reply, replyResult } from "./generate.ts";
import { StepQueue } from "./lookahead.ts";
import { Sampler } from "./sampler.ts";
import type { GemmaTokenizer } from "./tokenizer.ts";
import type { Gemma } from "./weights.ts";

export interface GenerationRequest {
  promptIds: number[];
  options: GenerateOptions;
}

export interface GenerateManyOptions {
  /** Sequences decoded together. */
  parallel: number;
  /** Positions each sequence's KV cache holds. */
  contextLength?: number;
  /** Called once per request as it finishes (in finishing order, not input order). */
  onResult?: (index: number, result: GenerateResult) => void;
}

/** A request being decoded. */
interface Job {
  index: number;
  request: GenerationRequest;
  reply: Reply;
  picks: () => TokenPick;
  prefillMs: number;
  decodeStart: number;
  /** Prompt tokens kept from a cache. */
  kept: number;
}

/** A step on its way: its rows (sequence, job, position after it), joiners, and its tokens. */
interface QueuedStep {
  rows: { sequence: number; job: Job; position: number }[];
  joined: Job[];
  joinStart: number;
  tokens: Promise<StepTokens>;
}

/** Generates a reply to every request; results in input order. */
export async function generateMany(
  model: Gemma,
  tokenizer: GemmaTokenizer,
  requests: GenerationRequest[],
  options: GenerateManyOptions,
): Promise<GenerateResult[]> {
  const results: GenerateResult[] = new Array(requests.length);
  const finish = (job: Job) => {
    job.reply.end();
    const decodeMs = performance.now() - job.decodeStart;
    const { promptIds } = job.request;
    const result = replyResult(job.reply, promptIds, job.prefillMs, decodeMs, job.kept);
    results[job.index] = result;
    options.onResult?.(job.index, result);
  };
  const pending = requests.map((request, index) => ({ request, index }));
  const sequences = Math.max(1, Math.min(options.parallel, requests.length));
  const batch = new SequenceBatch(model, {
    sequences,
    contextLength: options.contextLength,
  });
  const queued = new StepQueue<QueuedStep>(await model.gpu.readbackLatencyMs());
  try {
    const active = new Map<number, Job>();
    const free = Array.from({ length: sequences }, (_, s) => sequences - 1 - s);
    while (pending.length > 0 || active.size > 0) {
      // Prompts join the next step: their rows run in its forward call, beside the other rows.
      const joining: (JoiningSequence & { job: Job })[] = [];
      const joinStart = performance.now();
      while (queued.length === 0 && free.length > 0 && pending.length > 0) {
        const { request, index } = pending[0];
        const { promptIds } = request;
        // One that shares more with a prompt joining now than any cache holds waits a step, to
        // copy that prompt's rows then instead of computing them again.
        const cached = Math.max(
          ...batch.sequenceIndices.map((t) => batch.sharedPrefix(t, promptIds)),
        );
        // A joining prompt will hold all its tokens but the last; this one keeps at most as many.
        const shared = (j: JoiningSequence) =>
          sharedLength(j.ids, promptIds, Math.min(j.ids.length, promptIds.length) - 1);
        if (joining.some((j) => shared(j) > cached)) break;
        pending.shift();
        const job: Job = {
          index,
          request,
          reply: new Reply(tokenizer, request.options),
          picks: new Sampler(request.options.sampling).gpuPick,
          prefillMs: 0,
          decodeStart: 0,
          kept: 0,
        };
        if (request.options.maxTokens <= 0) {
          finish(job);
          continue;
        }
        const s = takeSequence(free, (f) => batch.sharedPrefix(f, promptIds));
        job.kept = batch.keepSharedPrefix(s, promptIds);
        const penalized = request.options.sampling.repetitionPenalty !== 1;
        joining.push({
          sequence: s,
          ids: promptIds,
          kept: job.kept,
          seen: penalized ? promptIds : undefined,
          job,
        });
        active.set(s, job);
      }
      if (active.size === 0 && queued.length === 0) continue;
      // Queue another step unless prompts wait for a free sequence (they join once the queue is
      // empty) or enough are queued; a sequence whose context is full takes no more steps.
      // (A joining sequence's position is its last request's until the step starts it.)
      const rows = [...active].filter(([s]) =>
        joining.some((j) => j.sequence === s) || batch.position(s) < batch.contextLength
      );
      if (rows.length > 0 && queued.hasRoom(free.length > 0 && pending.length > 0)) {
        const tokens = batch.step(
          rows.map(([sequence, job]) => ({ sequence, pick: job.picks() })),
          joining,
        );
        queued.push({
          rows: rows.map(([sequence, job]) => ({
            sequence,
            job,
            position: batch.position(sequence),
          })),
          joined: joining.map((j) => j.job),
          joinStart,
          tokens,
        });
        continue;
      }
      // Each active sequence either can step or has its last step queued.
      const { step, tokens: { picks } } = await queued.next();
      for (const job of step.joined) {
        job.prefillMs = performance.now() - step.joinStart;
        job.decodeStart = performance.now();
      }
      step.rows.forEach(({ sequence, job, position }, r) => {
        if (active.get(sequence) !== job) return; // it ended at an earlier step
        if (!job.reply.take(picks[r]) || position >= batch.contextLength) {
          finish(job);
          active.delete(sequence);
          free.push(sequence);
        }
      });
    }
  } finally {
    await queued.settle();
    batch.destroy();
  }
  return results;
}

/** Removes and returns the sequence of `free` that `score`s highest (the last of equals). */
function takeSequence(free: number[], score: (sequence: number) => number): number {
  let best = free.length - 1;
  for (let i = free.length - 2; i >= 0; i--) {
    if (score(free[i]) > score(free[best])) best = i;
  }
  return free.splice(best, 1)[0];
}
