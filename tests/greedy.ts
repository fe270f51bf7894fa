// Greedy decoding that also reports how close each choice was, for comparing engines: where two
// engines part, the step's gap between the best and second-best logit says whether it was a
// near tie (decided by rounding) or a real difference.

import { argmaxOf, type GemmaSession } from "../core/mod.ts";

/** Appends `prompt` to `session` and continues it greedily by `count` tokens. */
export async function greedyWithGaps(
  session: GemmaSession,
  prompt: number[],
  count: number,
): Promise<{ tokens: number[]; gaps: number[] }> {
  const tokens: number[] = [];
  const gaps: number[] = [];
  session.append(prompt);
  for (let i = 0; i < count; i++) {
    const logits = await session.logits();
    const best = argmaxOf(logits);
    const second = logits.reduce((m, x, j) => (j !== best && x > m ? x : m), -Infinity);
    tokens.push(best);
    gaps.push(logits[best] - second);
    session.append([best]);
  }
  return { tokens, gaps };
}
