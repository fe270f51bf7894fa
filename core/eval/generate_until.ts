// generate_until requests with lm-eval's semantics (its HF model, greedy):
// 1. The context is encoded with <bos> first and cut from the left to max_length − max_gen_toks
//    tokens (lm-eval's left_truncate_len; the <bos> goes with the cut), counted as truncated.
// 2. Greedy decoding until the end token, max_gen_toks tokens, or the first time one of the
//    `until` strings appears in the text generated so far (HF's stopping criterion; it decodes
//    with special tokens, so a stop string that is a special token ends generation too).
// 3. The answer is the generated tokens decoded without special tokens, then cut as lm-eval's
//    postprocess cuts it: for each `until` string in order, the text before its first occurrence
//    (sequential splits; for non-overlapping stop strings, the text before the earliest one).

import { generate } from "../generate.ts";
import { DEFAULT_SAMPLING } from "../sampler.ts";
import { ContextError, type GemmaSession } from "../session.ts";
import type { GemmaTokenizer } from "../tokenizer.ts";

/** lm-eval's default max_gen_toks (HFLM.max_gen_toks). */
export const DEFAULT_MAX_GEN_TOKS = 256;

export interface GenerationRequest {
  context: string;
  until: string[];
  maxGenToks: number;
}

export interface Generation {
  /** The answer, cut before the first stop string. */
  text: string;
  /** Tokens generated (an end token included). */
  tokens: number;
  /** Context tokens cut from the left to fit (0 when none). */
  truncated: number;
}

export interface GenerateUntilOptions {
  /** lm-eval's max_length: context + generated tokens. Default the session's context length. */
  maxLength?: number;
  /** Token ids that end generation (the model's end tokens). */
  stopTokenIds: number[];
  onProgress?: (done: number, total: number) => void;
}

/** lm-eval's postprocess_generated_text: the text before each stop string in turn. */
export function cutAtStops(text: string, until: string[]): string {
  let out = text;
  for (const stop of until) {
    if (stop.length === 0) continue;
    const at = out.indexOf(stop);
    if (at >= 0) out = out.slice(0, at);
  }
  return out;
}

/**
 * Stop strings that are special tokens (`<end_of_turn>`): lm-eval's stopping criterion sees them in
 * text decoded with special tokens, although the answer is decoded without them.
 */
export function specialStops(tokenizer: GemmaTokenizer, until: string[]): number[] {
  const ids: number[] = [];
  for (const stop of until) {
    const encoded = tokenizer.encode(stop, { addBos: false });
    if (encoded.length === 1 && tokenizer.decode(encoded, { skipSpecial: true }) === "") {
      ids.push(encoded[0]);
    }
  }
  return ids;
}

/** Runs the requests one after another, greedily (see the header). */
export async function generateUntil(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  requests: GenerationRequest[],
  options: GenerateUntilOptions,
): Promise<Generation[]> {
  const maxLength = options.maxLength ?? session.contextLength;
  if (maxLength > session.contextLength) {
    throw new ContextError(
      `max_length ${maxLength} exceeds the session's context of ${session.contextLength}`,
    );
  }
  const out: Generation[] = [];
  for (const [i, request] of requests.entries()) {
    const room = maxLength - request.maxGenToks;
    if (room < 1) {
      throw new ContextError(
        `max_gen_toks ${request.maxGenToks} leaves no room for a prompt in a context of ${maxLength}`,
      );
    }
    const ids = tokenizer.encode(request.context, { addBos: true });
    const truncated = Math.max(0, ids.length - room);
    session.reset();
    const result = await generate(session, tokenizer, ids.slice(truncated), {
      maxTokens: request.maxGenToks,
      sampling: { ...DEFAULT_SAMPLING, seed: 0 },
      stopTokenIds: [...options.stopTokenIds, ...specialStops(tokenizer, request.until)],
      stopStrings: request.until,
    });
    // The whole generation decoded again: generate() cuts at the earliest stop string, lm-eval
    // at each in turn, which differ only for overlapping stop strings.
    const decoded = tokenizer.decode(result.tokenIds, { skipSpecial: true });
    out.push({
      text: cutAtStops(decoded, request.until),
      tokens: result.tokenIds.length,
      truncated,
    });
    options.onProgress?.(i + 1, requests.length);
  }
  return out;
}
