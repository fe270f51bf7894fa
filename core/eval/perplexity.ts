// Perplexity metrics as lm-eval aggregates them (lm_eval/api/metrics.py):
// - perplexity (loglikelihood tasks, lambada_openai): exp(−mean(ll)) over the documents; its
//   stderr is lm-eval's bootstrap: 100 generators random.Random(0..99), each drawing 1000
//   resamples of the documents with choices(), the sample standard deviation of the 100000
//   perplexities. Reproduced draw for draw (Python's random, not an estimate like it).
// - word_perplexity, byte_perplexity (weighted_perplexity): exp(−Σ ll / Σ weight); bits_per_byte:
//   −Σ ll / Σ bytes / ln 2. No stderr (lm-eval has none for them: "N/A").

import { mean, sampleStddev } from "./metrics.ts";
import { PythonRandom } from "./python_random.ts";
import { isPythonWhitespace } from "./requests.ts";

/** lm-eval's default bootstrap_iters. */
export const BOOTSTRAP_ITERS = 100000;

/** len(re.split(r"\s+", text)): runs of whitespace + 1 (empty pieces at the ends count). */
export function countWords(text: string): number {
  let runs = 0;
  let inRun = false;
  for (const c of text) {
    const space = isPythonWhitespace(c);
    if (space && !inRun) runs++;
    inRun = space;
  }
  return runs + 1;
}

/** len(text.encode("utf-8")). */
export function countBytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** exp(−mean(ll)). */
export function perplexity(logprobs: number[]): number {
  return Math.exp(-mean(logprobs));
}

/** lm-eval's bootstrap_stderr of `perplexity` (see the header); undefined below two values. */
export function perplexityStderr(logprobs: number[], iters = BOOTSTRAP_ITERS): number | undefined {
  if (logprobs.length < 2) return undefined;
  const n = logprobs.length;
  const chunk = Math.min(1000, iters);
  const replicates: number[] = [];
  for (let i = 0; i < Math.floor(iters / chunk); i++) {
    const random = new PythonRandom(i);
    for (let r = 0; r < chunk; r++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += logprobs[Math.floor(random.random() * n)];
      replicates.push(Math.exp(-(sum / n)));
    }
  }
  return sampleStddev(replicates);
}

/** exp(−Σ ll / Σ weight): word_perplexity and byte_perplexity. */
export function weightedPerplexity(logprobs: number[], weights: number[]): number {
  return Math.exp(-sum(logprobs) / sum(weights));
}

/** −Σ ll / Σ bytes / ln 2. */
export function bitsPerByte(logprobs: number[], bytes: number[]): number {
  return -sum(logprobs) / sum(bytes) / Math.LN2;
}

function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
