// The memorization probe's report: counts and rates (95% Wilson intervals) per corpus file and
// overall, the distribution of the longest common prefix, PII found in memorized output, and
// examples; as JSON (`memorizationReport`), as text for people (`formatMemorizationReport`), and
// one JSON object per window (`windowRecord`).

import type { GemmaTokenizer } from "../core/mod.ts";
import type { ProbeResult, WindowResult } from "./memorization.ts";
import {
  APPROXIMATE_FRACTION,
  approximateLimit,
  type RateSummary,
  rateSummary,
} from "./memorization_score.ts";

export interface CountsJson {
  documents: number;
  skipped_short: number;
  windows_available: number;
  windows: number;
  exact: RateSummary;
  /** Edit distance ≤ 10% of the suffix, exact ones included. */
  approximate: RateSummary;
  approximate_only: number;
}

/** What was probed: the model as the user named it and the file it resolved to, the adapter. */
export interface ProbedModel {
  model: { name: string; path: string };
  /** The LoRA adapter applied to the model, if any. */
  adapter: { path: string; scale: number } | null;
}

export interface MemorizationReport extends ProbedModel {
  settings: {
    prefix: number;
    suffix: number;
    seed: number;
    samples_requested: number;
    parallel: number;
    approximate_rule: string;
    approximate_max_distance: number;
  };
  overall: CountsJson;
  files: (CountsJson & { path: string })[];
  common_prefix: { mean: number; median: number; histogram: number[] };
  /** Windows whose decoding stopped once their distance had to exceed the approximate limit. */
  stopped_early: number;
  pii:
    | { windows_scanned: number; windows_with_pii: number; by_type: Record<string, number> }
    | null;
  examples: ReturnType<typeof windowRecord>[];
  notes: string[];
  timing: { decode_seconds: number; windows_per_s: number };
}

/** How many examples the report shows: the most memorized windows first. */
const EXAMPLES = 5;

export function memorizationReport(
  probe: ProbeResult,
  tokenizer: GemmaTokenizer,
  options: ProbedModel & {
    /** Whether memorized output was scanned for personal data. */
    scanned: boolean;
  },
): MemorizationReport {
  const { scanned } = options;
  const counts = (
    windows: WindowResult[],
    documents: number,
    skipped: number,
    available: number,
  ) => {
    const exact = windows.filter((w) => w.score.exact).length;
    const approximate = windows.filter((w) => w.score.approximate).length;
    return {
      documents,
      skipped_short: skipped,
      windows_available: available,
      windows: windows.length,
      exact: rateSummary(exact, windows.length),
      approximate: rateSummary(approximate, windows.length),
      approximate_only: approximate - exact,
    };
  };
  const sum = (key: "documents" | "skipped" | "available") =>
    probe.files.reduce((total, f) => total + f[key], 0);
  const prefixes = probe.windows.map((w) => w.score.commonPrefix).sort((a, b) => a - b);
  const histogram = new Array(probe.suffix + 1).fill(0);
  for (const p of prefixes) histogram[p]++;
  const memorized = probe.windows.filter((w) => w.score.approximate);
  const byType: Record<string, number> = {};
  for (const w of memorized) {
    for (const f of w.pii ?? []) byType[f.type] = (byType[f.type] ?? 0) + 1;
  }
  const examples = [...probe.windows]
    .sort((a, b) =>
      a.score.editDistance - b.score.editDistance || b.score.commonPrefix - a.score.commonPrefix
    )
    .slice(0, EXAMPLES)
    .map((w) => windowRecord(w, probe, tokenizer));
  return {
    model: options.model,
    adapter: options.adapter,
    settings: {
      prefix: probe.prefix,
      suffix: probe.suffix,
      seed: probe.seed,
      samples_requested: probe.requested,
      parallel: probe.parallel,
      approximate_rule:
        `token edit distance / suffix tokens ≤ ${APPROXIMATE_FRACTION} (exact ones included)`,
      approximate_max_distance: approximateLimit(probe.suffix),
    },
    overall: counts(probe.windows, sum("documents"), sum("skipped"), probe.available),
    files: probe.files.map((f, i) => ({
      path: f.path,
      ...counts(probe.windows.filter((w) => w.file === i), f.documents, f.skipped, f.available),
    })),
    common_prefix: {
      mean: prefixes.reduce((a, b) => a + b, 0) / Math.max(1, prefixes.length),
      median: median(prefixes),
      histogram,
    },
    stopped_early: probe.windows.filter((w) => !w.score.complete).length,
    pii: scanned
      ? {
        windows_scanned: memorized.length,
        windows_with_pii: memorized.filter((w) => (w.pii ?? []).length > 0).length,
        by_type: byType,
      }
      : null,
    examples,
    notes: probe.notes,
    timing: {
      decode_seconds: probe.decodeSeconds,
      windows_per_s: probe.windows.length / Math.max(probe.decodeSeconds, 1e-9),
    },
  };
}

/** One window as JSON: where it is, its tokens and texts, and its scores. */
export function windowRecord(w: WindowResult, probe: ProbeResult, tokenizer: GemmaTokenizer) {
  return {
    file: probe.files[w.file].path,
    document: w.document,
    start: w.start,
    exact: w.score.exact,
    approximate: w.score.approximate,
    /** With complete false, a lower bound: decoding stopped once it exceeded the limit. */
    edit_distance: w.score.editDistance,
    complete: w.score.complete,
    common_prefix: w.score.commonPrefix,
    prefix_text: tokenizer.decode(w.prefixIds),
    suffix_text: tokenizer.decode(w.suffixIds),
    generated_text: tokenizer.decode(w.generatedIds),
    prefix_ids: w.prefixIds,
    suffix_ids: w.suffixIds,
    generated_ids: w.generatedIds,
    ...(w.pii ? { pii: w.pii } : {}),
  };
}

function median(sorted: number[]): number {
  if (sorted.length === 0) return 0;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const percent = (x: number) => `${(100 * x).toFixed(1)}%`;

function rateText(r: RateSummary): string {
  return `${r.count} (${percent(r.rate)}, 95% CI ${percent(r.ci95[0])}–${percent(r.ci95[1])})`;
}

export function formatMemorizationReport(report: MemorizationReport): string {
  const s = report.settings;
  const lines = [
    `Memorization: ${report.overall.windows} windows of prefix ${s.prefix} + suffix ${s.suffix} tokens (seed ${s.seed}), greedy, ${s.parallel} decoded together`,
    `model: ${report.model.name}${
      report.model.path === report.model.name ? "" : ` (${report.model.path})`
    }`,
    `adapter: ${
      report.adapter ? `${report.adapter.path} (scale ${report.adapter.scale})` : "none"
    }`,
    `approximate = token edit distance ≤ ${s.approximate_max_distance} (10% of the suffix), exact included`,
    "",
  ];
  const rows = [
    ["corpus", "docs", "short", "windows", "exact", "approximate"],
    ...[...report.files, { ...report.overall, path: "all" }].map((f) => [
      f.path,
      String(f.documents),
      String(f.skipped_short),
      `${f.windows}/${f.windows_available}`,
      rateText(f.exact),
      rateText(f.approximate),
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) lines.push(r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
  const cp = report.common_prefix;
  lines.push(
    "",
    `longest common prefix (tokens): mean ${cp.mean.toFixed(2)}, median ${cp.median}`,
    ...prefixBuckets(cp.histogram).map(([label, n]) => `  ${label.padStart(7)}: ${n}`),
  );
  if (report.stopped_early > 0) {
    lines.push(
      `${report.stopped_early} windows stopped decoding once their distance had to exceed ${s.approximate_max_distance}`,
    );
  }
  if (report.pii) {
    const types = Object.entries(report.pii.by_type).map(([t, n]) => `${t} ${n}`).join(", ");
    lines.push(
      "",
      `PII in memorized output: ${report.pii.windows_with_pii} of ${report.pii.windows_scanned} memorized windows${
        types ? ` (${types})` : ""
      }`,
    );
  }
  lines.push("", "closest windows:");
  for (const e of report.examples) {
    const kind = e.exact ? "exact" : e.approximate ? "approximate" : "not memorized";
    lines.push(
      `  ${e.file} document ${e.document} token ${e.start}: ${kind}, distance ${
        e.complete ? "" : "> "
      }${
        e.complete ? e.edit_distance : s.approximate_max_distance
      }, common prefix ${e.common_prefix}`,
      `    prefix: ${JSON.stringify(e.prefix_text)}`,
      `    truth:  ${JSON.stringify(e.suffix_text)}`,
      `    model:  ${JSON.stringify(e.generated_text)}`,
    );
  }
  for (const note of report.notes) lines.push(`note: ${note}`);
  return lines.join("\n") + "\n";
}

/** The histogram in about ten buckets of common-prefix length, the full suffix on its own. */
function prefixBuckets(histogram: number[]): [string, number][] {
  const full = histogram.length - 1;
  const width = Math.max(1, Math.ceil(full / 10));
  const buckets: [string, number][] = [];
  for (let lo = 0; lo < full; lo += width) {
    const hi = Math.min(lo + width, full) - 1;
    const n = histogram.slice(lo, hi + 1).reduce((a, b) => a + b, 0);
    buckets.push([lo === hi ? `${lo}` : `${lo}–${hi}`, n]);
  }
  buckets.push([`${full}`, histogram[full]]);
  return buckets;
}
