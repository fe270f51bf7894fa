// Policy classification, ShieldGemma's method: render the policy prompt, run the model over it,
// and read the next-token logits of "Yes" and "No"; P(violation) = softmax([yes, no])[0]. One
// score per policy. The policy prompts of one text differ only after the text itself, so their
// longest common token prefix is prefilled once and each policy appends only its own tail
// (GemmaSession.truncate back to the prefix between policies).

import { ContextError, type GemmaSession, type GemmaTokenizer } from "../core/mod.ts";
import { type Policy, renderPolicyPrompt } from "./policies.ts";

export class ClassifierError extends Error {
  override name = "ClassifierError";
}

export interface PolicyScore {
  policy: Policy;
  /** P("Yes") = softmax over the "Yes" and "No" logits. */
  pYes: number;
  logitYes: number;
  logitNo: number;
}

export interface ClassifyOptions {
  /** A chatbot response to classify (prompt-response mode); without it, the prompt alone. */
  response?: string;
  /** Prefill the shared prompt prefix once (default true); false prefills every prompt whole. */
  sharePrefix?: boolean;
}

/** The ids of the single tokens "Yes" and "No"; a one-line error where the vocab lacks them. */
export function yesNoIds(tokenizer: GemmaTokenizer): { yes: number; no: number } {
  const id = (token: string) => {
    const value = tokenizer.tokenToId(token);
    if (value === undefined) {
      throw new ClassifierError(
        `the model's tokenizer has no single token "${token}", so it cannot score policies (ShieldGemma's method needs "Yes" and "No")`,
      );
    }
    return value;
  };
  return { yes: id("Yes"), no: id("No") };
}

/** The ids the model reads for one policy: <bos> + the rendered prompt (as HF's tokenizer adds). */
export function policyPromptIds(
  tokenizer: GemmaTokenizer,
  policy: Policy,
  text: string,
  response?: string,
): number[] {
  return tokenizer.encode(renderPolicyPrompt(policy, text, response), { addBos: true });
}

/** softmax([yes, no])[0], computed stably. */
export function pYesFromLogits(logitYes: number, logitNo: number): number {
  return 1 / (1 + Math.exp(logitNo - logitYes));
}

/** Length of the longest common prefix of all sequences. */
export function commonPrefixLength(sequences: readonly (readonly number[])[]): number {
  if (sequences.length === 0) return 0;
  let n = Math.min(...sequences.map((s) => s.length));
  for (const s of sequences.slice(1)) {
    let i = 0;
    while (i < n && s[i] === sequences[0][i]) i++;
    n = i;
  }
  return n;
}

/**
 * Scores `text` (a user prompt, or with `options.response` the prompt of a chatbot response)
 * against each policy. Each prompt keeps what the session's cache shares with it (the policies'
 * common start: the preamble and the text) and is left holding the last policy's prompt.
 */
export async function classify(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  text: string,
  policies: readonly Policy[],
  options: ClassifyOptions = {},
): Promise<PolicyScore[]> {
  if (text.trim() === "") throw new ClassifierError("the text to classify is empty");
  if (options.response !== undefined && options.response.trim() === "") {
    throw new ClassifierError("the response to classify is empty");
  }
  if (policies.length === 0) throw new ClassifierError("no policies to score");
  const { yes, no } = yesNoIds(tokenizer);
  const prompts = policies.map((p) => policyPromptIds(tokenizer, p, text, options.response));
  const longest = Math.max(...prompts.map((ids) => ids.length));
  if (longest > session.contextLength) {
    throw new ContextError(
      `a policy prompt has ${longest} tokens but the context holds ${session.contextLength}; use --ctx`,
    );
  }
  const scores: PolicyScore[] = [];
  for (let i = 0; i < policies.length; i++) {
    // Every prompt keeps at least one token of its own, so each append leaves fresh logits;
    // without sharing, nothing is kept (the session starts over).
    const kept = session.keepSharedPrefix(
      prompts[i],
      options.sharePrefix === false ? 0 : undefined,
    );
    session.append(prompts[i].slice(kept));
    const logits = await session.logits();
    const logitYes = logits[yes];
    const logitNo = logits[no];
    scores.push({
      policy: policies[i],
      pYes: pYesFromLogits(logitYes, logitNo),
      logitYes,
      logitNo,
    });
  }
  return scores;
}
