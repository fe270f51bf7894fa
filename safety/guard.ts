// Guarded generation: the prompt is classified before anything is generated; the response is
// classified as it streams, sentence by sentence (ShieldGemma's prompt-response mode, over the
// whole response so far), and only sentences the guard has cleared are passed on, with their PII
// redacted. The first violation aborts generation. The guard fails closed: a classifier error ends
// generation and nothing unchecked is passed on.

import {
  type GemmaSession,
  type GemmaTokenizer,
  generate,
  type GenerateOptions,
  type GenerateResult,
} from "../core/mod.ts";
import { classify } from "./classifier.ts";
import type { Policy } from "./policies.ts";
import { type DetectOptions, detectPii } from "./pii.ts";
import { anonymize } from "./pii_operators.ts";

/** One classification by the guard. */
export interface GuardCheck {
  stage: "prompt" | "response";
  /** P(Yes) per policy key. */
  scores: Record<string, number>;
  /** The policies at or above the threshold. */
  violated: string[];
  ms: number;
}

export interface GuardConfig {
  /** Policies to enforce (none: only PII redaction). */
  policies: readonly Policy[];
  /** P(Yes) at or above which a policy is violated. */
  threshold: number;
  /** Redact PII (as `<TYPE>`) in the response before it is passed on. */
  redactPii: boolean;
  pii?: DetectOptions;
}

/** A guard: policies checked with a classifier model (its own session), and PII redaction. */
export class Guard {
  readonly config: GuardConfig;
  readonly #classifier?: { session: GemmaSession; tokenizer: GemmaTokenizer };
  /** Milliseconds spent classifying and redacting, and the number of classifications. */
  ms = 0;
  checks = 0;

  constructor(
    config: GuardConfig,
    classifier?: { session: GemmaSession; tokenizer: GemmaTokenizer },
  ) {
    if (config.policies.length > 0 && !classifier) {
      throw new Error("a guard with policies needs a classifier model");
    }
    this.config = config;
    this.#classifier = classifier;
  }

  get enforcesPolicies(): boolean {
    return this.config.policies.length > 0;
  }

  /** Classifies the prompt alone (prompt-only mode). */
  checkPrompt(prompt: string): Promise<GuardCheck> {
    return this.#check("prompt", prompt);
  }

  /** Classifies a response to `prompt` (prompt-response mode). */
  checkResponse(prompt: string, response: string): Promise<GuardCheck> {
    return this.#check("response", prompt, response);
  }

  async #check(stage: GuardCheck["stage"], prompt: string, response?: string) {
    const start = performance.now();
    const { session, tokenizer } = this.#classifier!;
    const scores = await classify(session, tokenizer, prompt, this.config.policies, { response });
    const ms = performance.now() - start;
    this.ms += ms;
    this.checks += 1;
    return {
      stage,
      scores: Object.fromEntries(scores.map((s) => [s.policy.key, s.pYes])),
      violated: scores.filter((s) => s.pYes >= this.config.threshold).map((s) => s.policy.key),
      ms,
    };
  }

  /** `text` with its PII replaced by `<TYPE>` (when redacting), else unchanged. */
  async redact(text: string): Promise<string> {
    if (!this.config.redactPii) return text;
    const start = performance.now();
    const out = await anonymize(text, detectPii(text, this.config.pii), { kind: "replace" });
    this.ms += performance.now() - start;
    return out;
  }

  /** One line naming the violated policies and their scores. */
  reason(check: GuardCheck): string {
    const names = check.violated.map((key) => {
      const policy = this.config.policies.find((p) => p.key === key)!;
      return `"${policy.name}" (P(Yes) ${check.scores[key].toFixed(3)})`;
    });
    return `the ${check.stage} violates ${names.join(", ")} at threshold ${this.config.threshold}`;
  }
}

/**
 * Splits streamed text into sentences: a piece ends after `.`, `!` or `?` followed by whitespace,
 * or at a newline; the whitespace stays with the sentence it follows.
 */
export class SentenceSplitter {
  #pending = "";
  readonly #boundary: RegExp;

  /** `boundary` (global) ends a piece; by default the end of a sentence or a line. */
  constructor(boundary: RegExp = /[.!?]["')\]]*\s+|\n+/g) {
    this.#boundary = boundary;
  }

  /** Adds text; returns the sentences it completed. */
  push(text: string): string[] {
    this.#pending += text;
    const out: string[] = [];
    let from = 0;
    for (const m of this.#pending.matchAll(this.#boundary)) {
      const end = m.index + m[0].length;
      if (end === this.#pending.length && !m[0].includes("\n")) break; // more space may follow
      out.push(this.#pending.slice(from, end));
      from = end;
    }
    this.#pending = this.#pending.slice(from);
    return out;
  }

  /** The rest, an unfinished sentence. */
  flush(): string {
    const rest = this.#pending;
    this.#pending = "";
    return rest;
  }
}

export interface GuardedResult {
  result: GenerateResult;
  /** The cleared (and redacted) response: what was passed on. */
  text: string;
  /** The check that stopped generation, if any. */
  blocked?: GuardCheck;
  checks: GuardCheck[];
}

/**
 * `generate` under a guard: `onText` receives only cleared, redacted sentences. The prompt is not
 * checked here (see Guard.checkPrompt). A classifier error is rethrown after generation stops.
 */
export async function guardedGenerate(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  promptIds: number[],
  options: GenerateOptions & { prompt: string; guard: Guard; splitter?: SentenceSplitter },
): Promise<GuardedResult> {
  const { guard, prompt, onText } = options;
  const controller = new AbortController();
  const splitter = options.splitter ?? new SentenceSplitter();
  const checks: GuardCheck[] = [];
  let cleared = "";
  let passed = "";
  let blocked: GuardCheck | undefined;
  let failure: { error: unknown } | undefined;
  let chain = Promise.resolve();
  // Sentences are checked one after another, in order, while generation runs on.
  const submit = (sentence: string) => {
    chain = chain.then(async () => {
      if (blocked || failure) return;
      try {
        const candidate = cleared + sentence;
        if (guard.enforcesPolicies && sentence.trim() !== "") {
          const check = await guard.checkResponse(prompt, candidate);
          checks.push(check);
          if (check.violated.length > 0) {
            blocked = check;
            controller.abort();
            return;
          }
        }
        cleared = candidate;
        const text = await guard.redact(sentence);
        passed += text;
        onText?.(text);
      } catch (error) {
        failure = { error };
        controller.abort();
      }
    });
  };
  let result: GenerateResult;
  try {
    result = await generate(session, tokenizer, promptIds, {
      ...options,
      signal: controller.signal,
      onText: (text) => {
        if (!controller.signal.aborted) { for (const s of splitter.push(text)) submit(s); }
      },
    });
  } catch (error) {
    controller.abort();
    await chain; // never leave checks running against a session the caller may reuse
    throw error;
  }
  if (!controller.signal.aborted) {
    const rest = splitter.flush();
    if (rest !== "") submit(rest);
  }
  await chain;
  if (failure) throw failure.error;
  return { result, text: passed, blocked, checks };
}
