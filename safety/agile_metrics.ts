// Binary classification metrics for agile classifiers' held-out numbers: F1 of the positive
// class at a threshold, and ROC-AUC from scores (the probability that a random positive scores
// above a random negative, ties counting half: the Mann-Whitney U statistic over n⁺·n⁻).

export interface BinaryMetrics {
  f1: number;
  precision: number;
  recall: number;
  accuracy: number;
  rocAuc: number;
}

/** `scores`: P(positive) per example; `positive`: its true class. */
export function binaryMetrics(
  scores: readonly number[],
  positive: readonly boolean[],
  threshold = 0.5,
): BinaryMetrics {
  if (scores.length !== positive.length || scores.length === 0) {
    throw new RangeError("binaryMetrics: one score per label, at least one");
  }
  let tp = 0, fp = 0, fn = 0, tn = 0;
  scores.forEach((s, i) => {
    const predicted = s >= threshold;
    if (predicted && positive[i]) tp++;
    else if (predicted) fp++;
    else if (positive[i]) fn++;
    else tn++;
  });
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : 2 * precision * recall / (precision + recall);
  return {
    f1,
    precision,
    recall,
    accuracy: (tp + tn) / scores.length,
    rocAuc: rocAuc(scores, positive),
  };
}

/** ROC-AUC by ranks (average ranks for ties); NaN without both classes. */
export function rocAuc(scores: readonly number[], positive: readonly boolean[]): number {
  const order = [...scores.keys()].sort((a, b) => scores[a] - scores[b]);
  const ranks = new Float64Array(scores.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const nPos = positive.filter(Boolean).length;
  const nNeg = positive.length - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  let rankSum = 0;
  positive.forEach((p, i) => {
    if (p) rankSum += ranks[i];
  });
  return (rankSum - nPos * (nPos + 1) / 2) / (nPos * nNeg);
}
