// Log-likelihood requests, with lm-evaluation-harness's (lm-eval's) semantics, scored on the GPU.
//
// A request asks for log P(continuation | context). As lm-eval does it:
// 1. Trailing whitespace of the context moves to the front of the continuation (Python's
//    `str.rstrip()`: its whitespace set, not JavaScript's, see PYTHON_WHITESPACE).
// 2. Continuation tokens = encode(context + continuation) minus the first len(encode(context))
//    tokens, both encoded with <bos> first (Gemma's tokenizer adds it; so does HF's). The split is
//    by count, so a token that merges across the boundary belongs to the continuation's side.
// 3. The result is the sum of the continuation tokens' log-softmax and `isGreedy`: every one of
//    them was the argmax at its position.
// 4. A request longer than maxLength + 1 tokens keeps its last maxLength + 1 (left truncation, so
//    the <bos> goes too); the input is all of them but the last, as lm-eval's `[-(L+1):][:-1]`.
//
// Where lm-eval runs every request as a separate sequence, requests that share a context here
// prefill it once: the session is truncated back to the context's end for each continuation
// (`GemmaSession.truncate`), and `appendAndScore` returns two floats per continuation token after
// the first (the first is scored from the context's logits, read back once per context). A session
// with branches scores several continuations in one forward call instead, each in a copy of the
// context's KV cache (`GemmaSession.scoreBranches`). Contexts are taken in token order and each
// keeps what its KV cache shares with the one before (few-shot examples, WinoGrande's sentence
// starts), so only the tokens after the shared beginning are prefilled.

import type { GemmaTokenizer } from "../tokenizer.ts";
import type { BranchScores, GemmaSession } from "../session.ts";
import { ContextError } from "../session.ts";
import { sharedLength } from "../forward_state.ts";

export interface LoglikelihoodRequest {
  context: string;
  continuation: string;
}

/** A request as token ids: `context` starts with <bos> unless truncation removed it. */
export interface TokenRequest {
  context: number[];
  continuation: number[];
}

export interface LoglikelihoodScore {
  /** Sum of the continuation tokens' log-probabilities (nats). */
  logprob: number;
  /** Every continuation token was the most likely one at its position. */
  isGreedy: boolean;
  /** Continuation tokens scored. */
  tokens: number;
  /** Tokens cut from the left to fit maxLength (0 when none). */
  truncated: number;
}

export interface ScoreOptions {
  /**
   * lm-eval's max_length: the longest model input. Default the session's context length − 1,
   * since the continuation's last token is appended too (its logits are not used).
   */
  maxLength?: number;
  /** Called after each scored request with (requests done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Called with each request's index and score as soon as it is scored (for a resumable cache). */
  onScore?: (index: number, score: LoglikelihoodScore) => void;
  /** Keep the KV cache's shared beginning between contexts (default true; false: prefill each). */
  reusePrefixes?: boolean;
  /** Filled with how many tokens were run through the model and how many were kept instead. */
  counts?: PrefillCounts;
}

export interface PrefillCounts {
  /** Context and continuation tokens appended to the session. */
  prefilled: number;
  /** Context tokens kept from the context before instead. */
  reused: number;
}

/** What Python's `str.isspace()` accepts (and so `rstrip()` strips); JS's `\s` differs. */
const PYTHON_WHITESPACE = new Set(
  [
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006",
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
  ].join(""),
);

/** Python's `str.isspace()` of one character (also what `\s` matches in Python's `re`). */
export function isPythonWhitespace(char: string): boolean {
  return PYTHON_WHITESPACE.has(char);
}

/** Python's `str.strip()`. */
export function pythonStrip(text: string): string {
  let start = 0;
  while (start < text.length && PYTHON_WHITESPACE.has(text[start])) start++;
  return moveTrailingWhitespace(text.slice(start), "")[0];
}

/** Moves the context's trailing whitespace to the continuation, as lm-eval's `_encode_pair`. */
export function moveTrailingWhitespace(context: string, continuation: string): [string, string] {
  let end = context.length;
  while (end > 0 && PYTHON_WHITESPACE.has(context[end - 1])) end--;
  return [context.slice(0, end), context.slice(end) + continuation];
}

/** Text request → token ids, exactly as lm-eval's HF model splits them (see the header). */
export function encodeRequest(
  tokenizer: GemmaTokenizer,
  request: LoglikelihoodRequest,
): TokenRequest {
  const [context, continuation] = moveTrailingWhitespace(request.context, request.continuation);
  const whole = tokenizer.encode(context + continuation, { addBos: true });
  const contextIds = tokenizer.encode(context, { addBos: true });
  return {
    context: whole.slice(0, contextIds.length),
    continuation: whole.slice(contextIds.length),
  };
}

/** Scores text requests in order (see `scoreTokenRequests`). */
export async function scoreRequests(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  requests: LoglikelihoodRequest[],
  options: ScoreOptions = {},
): Promise<LoglikelihoodScore[]> {
  return await scoreTokenRequests(
    session,
    requests.map((r) => encodeRequest(tokenizer, r)),
    options,
  );
}

/**
 * Scores token requests, in the order given. Requests whose (untruncated) contexts are equal are
 * scored together: the context is prefilled once and the logits after it read back once (they
 * score every continuation's first token, so a one-token continuation costs nothing more); a
 * longer continuation is appended after truncating back to the context's end.
 */
export async function scoreTokenRequests(
  session: GemmaSession,
  requests: TokenRequest[],
  options: ScoreOptions = {},
): Promise<LoglikelihoodScore[]> {
  const maxLength = options.maxLength ?? session.contextLength - 1;
  if (maxLength + 1 > session.contextLength) {
    throw new ContextError(
      `maxLength ${maxLength} needs a session context of ${
        maxLength + 1
      }, got ${session.contextLength}`,
    );
  }
  // Group by context; a truncated request is its own group (its window depends on its length).
  const groups = new Map<string, { prefix: number[]; members: number[] }>();
  const fitted = requests.map((r, i) => {
    const fit = fitRequest(r, maxLength);
    const key = fit.truncated > 0 ? `#${i}` : fit.context.join(",");
    let group = groups.get(key);
    if (!group) groups.set(key, group = { prefix: fit.context, members: [] });
    group.members.push(i);
    return fit;
  });
  const scores: LoglikelihoodScore[] = new Array(requests.length);
  const counts = options.counts ?? { prefilled: 0, reused: 0 };
  const reuse = options.reusePrefixes ?? true;
  // Makes the session hold `tokens`, keeping what it shares with what it holds.
  const hold = (tokens: number[], withLogits: boolean) => {
    const limit = reuse ? tokens.length - (withLogits ? 1 : 0) : 0;
    const keep = session.keepSharedPrefix(tokens, limit);
    session.append(tokens.slice(keep));
    counts.reused += keep;
    counts.prefilled += tokens.length - keep;
  };
  const ordered = [...groups.values()].sort((a, b) => compareTokens(a.prefix, b.prefix));
  let done = 0;
  for (const { prefix, members } of ordered) {
    // After the context: scores every continuation's first token.
    let next: NextToken | undefined;
    if (members.some((i) => fitted[i].continuation.length > 0)) {
      hold(prefix, true);
      next = nextToken(await session.logits());
    }
    // The tokens after the first: in the session's branches where it has them, several
    // continuations per forward call; else (and for the longest) one continuation at a time.
    const rests = new Map<number, BranchScores>();
    const branched = session.branches > 0
      ? members.filter((i) => {
        const n = fitted[i].continuation.length;
        return n > 1 && n - 1 <= session.maxBranchRows;
      })
      : [];
    if (branched.length > 0) {
      const out = await session.scoreBranches(branched.map((i) => fitted[i].continuation));
      branched.forEach((i, k) => rests.set(i, out[k]));
    }
    for (const i of members) {
      const { continuation, truncated } = fitted[i];
      let logprob = 0;
      let isGreedy = true;
      if (continuation.length > 0) {
        logprob = next!.logits[continuation[0]] - next!.logNormalizer;
        isGreedy = next!.best === continuation[0];
        let rest: { logprobs: ArrayLike<number>; greedy: boolean[] } | undefined = rests.get(i);
        if (!rest && continuation.length > 1) {
          hold(prefix, false);
          // Each token scored after the ones before it (the last row's logits unused).
          rest = await session.appendAndScore(continuation);
          counts.prefilled += continuation.length;
        }
        if (rest) {
          for (let j = 0; j < rest.logprobs.length; j++) logprob += rest.logprobs[j];
          isGreedy &&= rest.greedy.every((g) => g);
        }
      }
      scores[i] = { logprob, isGreedy, tokens: continuation.length, truncated };
      options.onScore?.(i, scores[i]);
      options.onProgress?.(++done, requests.length);
    }
  }
  return scores;
}

/** Lexicographic order of token sequences (a prefix first). */
function compareTokens(a: number[], b: number[]): number {
  const i = sharedLength(a, b);
  if (i === a.length || i === b.length) return a.length - b.length;
  return a[i] - b[i];
}

/** The logits after a context, with their log-sum-exp and argmax (the first, on ties). */
interface NextToken {
  logits: Float32Array;
  logNormalizer: number;
  best: number;
}

function nextToken(logits: Float32Array): NextToken {
  let best = 0;
  for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
  const max = logits[best];
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  return { logits, logNormalizer: max + Math.log(sum), best };
}

/** lm-eval's left truncation: the last maxLength + 1 tokens of context + continuation. */
function fitRequest(
  request: TokenRequest,
  maxLength: number,
): TokenRequest & { truncated: number } {
  const { context, continuation } = request;
  if (continuation.length > maxLength) {
    throw new ContextError(
      `a continuation of ${continuation.length} tokens does not fit in the context of ${maxLength}`,
    );
  }
  if (context.length === 0) throw new ContextError("a request needs at least one context token");
  const truncated = Math.max(0, context.length + continuation.length - (maxLength + 1));
  return { context: context.slice(truncated), continuation, truncated };
}
