// Text generation: prefill the prompt in one batched pass, then one decode step per token until
// an end token, a stop string, the token budget or the end of the context. Text is streamed to
// `onText` as soon as it is final: UTF-8 complete, and not possibly the start of a stop string.

import { Sampler, type SamplingOptions } from "./sampler.ts";
import type { GemmaSession } from "./session.ts";
import { type GemmaTokenizer, StreamingDecoder } from "./tokenizer.ts";

export type FinishReason = "length" | "stop" | "eos" | "abort";

export interface GenerateOptions {
  maxTokens: number;
  sampling: SamplingOptions;
  /** Token ids that end generation (eos, end_of_turn): finish_reason "eos". */
  stopTokenIds: number[];
  /** Strings that end generation, left out of the text: finish_reason "stop". */
  stopStrings?: string[];
  /** Receives the text as it becomes final. */
  onText?: (text: string) => void;
  /** Ends generation at the next token once aborted (finish_reason "abort"), e.g. by a guard. */
  signal?: AbortSignal;
}

export interface Timings {
  prefillMs: number;
  decodeMs: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
}

export interface GenerateResult {
  text: string;
  promptTokenIds: number[];
  /** Sampled tokens, including a final end token when finishReason is "eos". */
  tokenIds: number[];
  finishReason: FinishReason;
  timings: Timings;
}

/**
 * Appends `promptIds` to `session` (which may already hold earlier turns) and samples up to
 * `maxTokens` tokens. The session then holds the prompt and every sampled token but the last.
 */
export async function generate(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  promptIds: number[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  const sampler = new Sampler(options.sampling);
  const stops = (options.stopStrings ?? []).filter((s) => s.length > 0);
  const holdBack = Math.max(0, ...stops.map((s) => s.length - 1));
  const decoder = new StreamingDecoder(tokenizer, { skipSpecial: true });
  const history = [...promptIds];
  const tokenIds: number[] = [];
  let text = "";
  let emitted = 0;
  let finishReason: FinishReason = "length";
  const emit = (upTo: number) => {
    if (upTo > emitted) {
      options.onText?.(text.slice(emitted, upTo));
      emitted = upTo;
    }
  };
  // Takes token `id` into the result; false when generation ends with it.
  const take = (id: number): boolean => {
    if (options.signal?.aborted) {
      finishReason = "abort";
      return false;
    }
    tokenIds.push(id);
    history.push(id);
    if (options.stopTokenIds.includes(id)) {
      finishReason = "eos";
      return false;
    }
    const piece = decoder.push(id);
    if (piece) {
      const searchFrom = Math.max(0, text.length - holdBack);
      text += piece;
      const at = firstStop(text, stops, searchFrom);
      if (at >= 0) {
        text = text.slice(0, at);
        finishReason = "stop";
        return false;
      }
      emit(text.length - holdBack);
    }
    return true;
  };

  const prefillStart = performance.now();
  session.append(promptIds);
  let prefillMs = 0;
  let decodeStart = 0;
  const startDecoding = () => {
    prefillMs = performance.now() - prefillStart;
    decodeStart = performance.now();
  };
  // Pipelined on the GPU (see GemmaSession.decode); the prefill ends with the first token.
  const penalized = options.sampling.repetitionPenalty !== 1;
  await session.decode(options.maxTokens, (id) => {
    if (tokenIds.length === 0) startDecoding();
    return take(id);
  }, { picks: sampler.gpuPick, seen: penalized ? history : undefined });
  if (tokenIds.length === 0) startDecoding();
  if (finishReason === "length") text += decoder.flush();
  emit(text.length);
  const decodeMs = performance.now() - decodeStart;
  const decoded = Math.max(0, tokenIds.length - 1); // the first token came from the prefill
  return {
    text,
    promptTokenIds: promptIds,
    tokenIds,
    finishReason,
    timings: {
      prefillMs,
      decodeMs,
      prefillTokensPerS: promptIds.length / (prefillMs / 1000),
      decodeTokensPerS: decoded > 0 ? decoded / (decodeMs / 1000) : 0,
    },
  };
}

function firstStop(text: string, stops: string[], from: number): number {
  let best = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop, from);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}
