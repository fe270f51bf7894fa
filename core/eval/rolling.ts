// loglikelihood_rolling requests (perplexity) with lm-eval's semantics:
// - The document is encoded as lm-eval's HF model encodes it: with Gemma's <bos> first (so the
//   <bos> is itself one of the predicted tokens, scored after the prefix <bos>: lm-eval's
//   behaviour with tokenizers that add <bos>, kept for comparable numbers).
// - Disjoint windows of max_length predicted tokens (lm-eval's get_rolling_token_windows with
//   context_len 1, then make_disjoint_window): the first window predicts tokens[0:L] after the
//   prefix token; each later one predicts the next ≤ L tokens after the L + 1 − n tokens before
//   them, so every window is a loglikelihood request of at most L + 1 tokens and every token is
//   predicted exactly once.
// - The document's log-likelihood is the sum over its windows.
// Metrics: word_perplexity = exp(−Σ ll / Σ words), byte_perplexity = exp(−Σ ll / Σ bytes),
// bits_per_byte = −Σ ll / Σ bytes / ln 2 (lm-eval's weighted aggregations; no stderr), with
// words = the pieces of re.split(r"\s+", text) and bytes = its UTF-8 length.

import type { GemmaSession } from "../session.ts";
import type { GemmaTokenizer } from "../tokenizer.ts";
import { scoreTokenRequests, type TokenRequest } from "./requests.ts";

/** lm-eval's rolling windows of `tokens` (see the header), as loglikelihood token requests. */
export function rollingWindows(
  tokens: number[],
  prefixToken: number,
  maxLength: number,
): TokenRequest[] {
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new RangeError(`max_length must be a positive integer, got ${maxLength}`);
  }
  const windows: TokenRequest[] = [];
  if (tokens.length === 0) return windows;
  const first = Math.min(maxLength, tokens.length);
  windows.push({ context: [prefixToken], continuation: tokens.slice(0, first) });
  let predicted = first;
  while (predicted < tokens.length) {
    const count = Math.min(tokens.length - predicted, maxLength);
    const end = predicted + count;
    // The input window tokens[end − L − 1 : end − 1], less its overlap with the predictions.
    const input = tokens.slice(end - maxLength - 1, end - 1);
    windows.push({
      context: input.slice(0, input.length - (count - 1)),
      continuation: tokens.slice(end - count, end),
    });
    predicted = end;
  }
  return windows;
}

export interface RollingScore {
  /** The document's log-likelihood (nats), the sum over its windows. */
  logprob: number;
  tokens: number;
  windows: number;
}

/** Scores each document's windows (see the header); every window fits, so none is truncated. */
export async function scoreRolling(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  texts: string[],
  options: { maxLength?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<RollingScore[]> {
  const maxLength = options.maxLength ?? session.contextLength - 1;
  const perDoc = texts.map((text) =>
    rollingWindows(tokenizer.encode(text, { addBos: true }), tokenizer.bosId, maxLength)
  );
  const windows = perDoc.flat();
  const scores = await scoreTokenRequests(session, windows, {
    maxLength,
    onProgress: options.onProgress,
  });
  let next = 0;
  return perDoc.map((docWindows) => {
    const own = scores.slice(next, next += docWindows.length);
    let logprob = 0;
    for (const s of own) logprob += s.logprob;
    return {
      logprob,
      tokens: docWindows.reduce((n, w) => n + w.continuation.length, 0),
      windows: docWindows.length,
    };
  });
}
