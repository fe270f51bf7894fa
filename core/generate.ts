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
  /** The prompt's first tokens found in a KV cache and not prefilled again. */
  cachedPromptTokens: number;
  timings: Timings;
}

/**
 * A reply being built token by token: its tokens and text, the text streamed to `onText` once it
 * is final, and why it ended.
 */
export class Reply {
  readonly tokenIds: number[] = [];
  text = "";
  finishReason: FinishReason = "length";
  readonly #options: GenerateOptions;
  readonly #stops: string[];
  readonly #holdBack: number;
  readonly #decoder: StreamingDecoder;
  #emitted = 0;

  constructor(tokenizer: GemmaTokenizer, options: GenerateOptions) {
    this.#options = options;
    this.#stops = (options.stopStrings ?? []).filter((s) => s.length > 0);
    this.#holdBack = Math.max(0, ...this.#stops.map((s) => s.length - 1));
    this.#decoder = new StreamingDecoder(tokenizer, { skipSpecial: true });
  }

  /** Takes token `id`; false when the reply ends with it (an end token, a stop, the budget). */
  take(id: number): boolean {
    if (this.#options.signal?.aborted) {
      this.finishReason = "abort";
      return false;
    }
    this.tokenIds.push(id);
    if (this.#options.stopTokenIds.includes(id)) {
      this.finishReason = "eos";
      return false;
    }
    const piece = this.#decoder.push(id);
    if (piece) {
      const searchFrom = Math.max(0, this.text.length - this.#holdBack);
      this.text += piece;
      const at = firstStop(this.text, this.#stops, searchFrom);
      if (at >= 0) {
        this.text = this.text.slice(0, at);
        this.finishReason = "stop";
        return false;
      }
      this.#emit(this.text.length - this.#holdBack);
    }
    return this.tokenIds.length < this.#options.maxTokens;
  }

  /** Ends the reply: the rest of the text is final. */
  end(): void {
    if (this.finishReason === "length") this.text += this.#decoder.flush();
    this.#emit(this.text.length);
  }

  #emit(upTo: number): void {
    if (upTo > this.#emitted) {
      this.#options.onText?.(this.text.slice(this.#emitted, upTo));
      this.#emitted = upTo;
    }
  }
}

/** The result of a finished reply. */
export function replyResult(
  reply: Reply,
  promptIds: number[],
  prefillMs: number,
  decodeMs: number,
  cachedPromptTokens = 0,
): GenerateResult {
  const decoded = Math.max(0, reply.tokenIds.length - 1); // the first token came from the prefill
  return {
    text: reply.text,
    promptTokenIds: promptIds,
    tokenIds: reply.tokenIds,
    finishReason: reply.finishReason,
    cachedPromptTokens,
    timings: {
      prefillMs,
      decodeMs,
      prefillTokensPerS: (promptIds.length - cachedPromptTokens) / (prefillMs / 1000),
      decodeTokensPerS: decoded > 0 ? decoded / (decodeMs / 1000) : 0,
    },
  };
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
  const reply = new Reply(tokenizer, options);
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
    if (reply.tokenIds.length === 0) startDecoding();
    return reply.take(id);
  }, { picks: sampler.gpuPick, seen: penalized ? promptIds : undefined });
  if (reply.tokenIds.length === 0) startDecoding();
  reply.end();
  return replyResult(reply, promptIds, prefillMs, performance.now() - decodeStart);
}

function firstStop(text: string, stops: string[], from: number): number {
  let best = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop, from);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}
