// generate_until requests with lm-eval's semantics (its HF model, greedy):
// 1. The context is encoded with <bos> first and cut from the left to max_length − max_gen_toks
//    tokens (lm-eval's left_truncate_len; the <bos> goes with the cut), counted as truncated.
// 2. Greedy decoding until the end token, max_gen_toks tokens, or the first time one of the
//    `until` strings appears in the text generated so far (HF's stopping criterion; it decodes
//    with special tokens, so a stop string that is a special token ends generation too).
// 3. The answer is the generated tokens decoded without special tokens, then cut as lm-eval's
//    postprocess cuts it: for each `until` string in order, the text before its first occurrence
//    (sequential splits; for non-overlapping stop strings, the text before the earliest one).
// Two paths give the same tokens: one request at a time on a GemmaSession (generateUntil), or many
// decoded together with continuous batching (generateUntilBatched, core/generate_many.ts); both
// prepare each request (truncation, stops) and cut its answer with the same functions below.

import { maxSequences } from "../forward_state.ts";
import { generate, type GenerateOptions } from "../generate.ts";
import { generateMany } from "../generate_many.ts";
import { DEFAULT_SAMPLING } from "../sampler.ts";
import { ContextError, type GemmaSession } from "../session.ts";
import type { GemmaTokenizer } from "../tokenizer.ts";
import type { Gemma } from "../weights.ts";

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
  /** Their ids. */
  tokenIds: number[];
  /** Context tokens cut from the left to fit (0 when none). */
  truncated: number;
}

export interface GenerateUntilOptions {
  /** lm-eval's max_length: context + generated tokens. Default the session's context length. */
  maxLength?: number;
  /** Token ids that end generation (the model's end tokens). */
  stopTokenIds: number[];
  onProgress?: (done: number, total: number) => void;
  /** Called with each request's answer as soon as it is finished (for a resumable cache). */
  onGeneration?: (index: number, generation: Generation) => void;
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

/** A request made ready to decode: its prompt (cut to fit) and generate's options. */
interface PreparedRequest {
  ids: number[];
  truncated: number;
  options: GenerateOptions;
}

/** Steps 1 and 2 of the header: the prompt cut to leave room for the answer, and the stops. */
function prepare(
  tokenizer: GemmaTokenizer,
  request: GenerationRequest,
  maxLength: number,
  stopTokenIds: number[],
): PreparedRequest {
  const room = maxLength - request.maxGenToks;
  if (room < 1) {
    throw new ContextError(
      `max_gen_toks ${request.maxGenToks} leaves no room for a prompt in a context of ${maxLength}`,
    );
  }
  const ids = tokenizer.encode(request.context, { addBos: true });
  const truncated = Math.max(0, ids.length - room);
  return {
    ids: ids.slice(truncated),
    truncated,
    options: {
      maxTokens: request.maxGenToks,
      sampling: { ...DEFAULT_SAMPLING, seed: 0 },
      stopTokenIds: [...stopTokenIds, ...specialStops(tokenizer, request.until)],
      stopStrings: request.until,
    },
  };
}

/** Step 3 of the header: the answer of a finished generation. */
function answer(
  tokenizer: GemmaTokenizer,
  request: GenerationRequest,
  prepared: PreparedRequest,
  tokenIds: number[],
): Generation {
  // The whole generation decoded again: generate() cuts at the earliest stop string, lm-eval at
  // each in turn, which differ only for overlapping stop strings.
  const decoded = tokenizer.decode(tokenIds, { skipSpecial: true });
  return {
    text: cutAtStops(decoded, request.until),
    tokens: tokenIds.length,
    tokenIds,
    truncated: prepared.truncated,
  };
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
    const prepared = prepare(tokenizer, request, maxLength, options.stopTokenIds);
    // Prompts that share their start (lm-eval's first_n few-shot examples) prefill it once.
    const kept = session.keepSharedPrefix(prepared.ids);
    const prompt = prepared.ids.slice(kept);
    const result = await generate(session, tokenizer, prompt, prepared.options);
    out.push(answer(tokenizer, request, prepared, result.tokenIds));
    options.onGeneration?.(i, out[i]);
    options.onProgress?.(i + 1, requests.length);
  }
  return out;
}

export interface BatchedGenerateUntilOptions extends GenerateUntilOptions {
  /** lm-eval's max_length: context + generated tokens (required: there is no session). */
  maxLength: number;
  /** Sequences decoded together (fewer when their KV caches do not fit the device). */
  parallel: number;
}

/**
 * Runs the requests many at a time (continuous batching over a SequenceBatch), greedily: the
 * same answers as generateUntil, in request order. Each sequence's cache holds the longest
 * prompt + max_gen_toks of the requests, not the whole max_length, so more of them fit.
 */
export async function generateUntilBatched(
  model: Gemma,
  tokenizer: GemmaTokenizer,
  requests: GenerationRequest[],
  options: BatchedGenerateUntilOptions,
): Promise<Generation[]> {
  const prepared = requests.map((r) =>
    prepare(tokenizer, r, options.maxLength, options.stopTokenIds)
  );
  if (prepared.length === 0) return [];
  const contextLength = Math.max(...prepared.map((p) => p.ids.length + p.options.maxTokens));
  const parallel = Math.max(1, Math.min(options.parallel, maxSequences(model, contextLength)));
  const out: Generation[] = new Array(requests.length);
  let done = 0;
  await generateMany(
    model,
    tokenizer,
    prepared.map((p) => ({ promptIds: p.ids, options: p.options })),
    {
      parallel,
      contextLength,
      onResult: (i, result) => {
        out[i] = answer(tokenizer, requests[i], prepared[i], result.tokenIds);
        options.onGeneration?.(i, out[i]);
        options.onProgress?.(++done, requests.length);
      },
    },
  );
  return out;
}
