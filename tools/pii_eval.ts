// Precision and recall of the PII detectors per type on a labelled JSONL set
// ({"text", "spans": [{start, end, type}]}, UTF-16 offsets). A detected span counts as a true
// positive when its type and both offsets equal a labelled span's (strict), and separately when
// it merely overlaps a labelled span of the same type (lenient).
//   ./deno run -A tools/pii_eval.ts [tests/data/safety/pii_labelled.jsonl] [--min-score 0.5]

import { detectPii, PII_TYPES, type PiiHit } from "../safety/mod.ts";

const args = [...Deno.args];
const scoreAt = args.indexOf("--min-score");
const minScore = scoreAt >= 0 ? Number(args.splice(scoreAt, 2)[1]) : 0.5;
const path = args[0] ??
  new URL("../tests/data/safety/pii_labelled.jsonl", import.meta.url).pathname;

interface Span {
  start: number;
  end: number;
  type: string;
}

const counts = new Map<string, { tp: number; fp: number; fn: number; lenientTp: number }>();
const row = (t: string) => {
  if (!counts.has(t)) counts.set(t, { tp: 0, fp: 0, fn: 0, lenientTp: 0 });
  return counts.get(t)!;
};
const mistakes: string[] = [];
const lines = (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim() !== "");
for (const text of lines) {
  const item = JSON.parse(text) as { text: string; spans: Span[] };
  const hits: PiiHit[] = detectPii(item.text, { minScore });
  const same = (a: Span, b: Span) => a.type === b.type && a.start === b.start && a.end === b.end;
  const overlaps = (a: Span, b: Span) => a.type === b.type && a.start < b.end && b.start < a.end;
  for (const hit of hits) {
    if (item.spans.some((s) => same(s, hit))) row(hit.type).tp++;
    else {
      row(hit.type).fp++;
      mistakes.push(`FP ${hit.type} "${hit.text}" in: ${item.text.slice(0, 100)}`);
    }
    if (item.spans.some((s) => overlaps(s, hit))) row(hit.type).lenientTp++;
  }
  for (const span of item.spans) {
    if (!hits.some((h) => same(span, h))) {
      row(span.type).fn++;
      mistakes.push(
        `FN ${span.type} "${item.text.slice(span.start, span.end)}" in: ${item.text.slice(0, 100)}`,
      );
    }
  }
}

const pct = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "  -  ");
console.log(`${lines.length} lines, min score ${minScore}`);
console.log("type              support  precision  recall  (lenient precision)");
let all = { tp: 0, fp: 0, fn: 0 };
for (const type of PII_TYPES) {
  const c = counts.get(type);
  if (!c) continue;
  all = { tp: all.tp + c.tp, fp: all.fp + c.fp, fn: all.fn + c.fn };
  console.log(
    `${type.padEnd(16)} ${String(c.tp + c.fn).padStart(8)}  ${
      pct(c.tp / (c.tp + c.fp)).padStart(9)
    }  ${pct(c.tp / (c.tp + c.fn)).padStart(6)}  (${pct(c.lenientTp / (c.tp + c.fp))})`,
  );
}
console.log(
  `${"all".padEnd(16)} ${String(all.tp + all.fn).padStart(8)}  ${
    pct(all.tp / (all.tp + all.fp)).padStart(9)
  }  ${pct(all.tp / (all.tp + all.fn)).padStart(6)}`,
);
if (Deno.env.get("PII_EVAL_VERBOSE")) { for (const m of mistakes) console.log(m); }
