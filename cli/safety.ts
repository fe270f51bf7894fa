// `gemma safety …`: `pii` finds and anonymizes personal data (no model needed); `classify` scores
// a text against safety policies with a Gemma checkpoint, ShieldGemma's way, or with an agile
// classifier (--adapter, trained by `train`: cli/safety_train.ts).

import { Command } from "commander";
import { GemmaSession } from "../core/mod.ts";
import {
  AgileClassifier,
  AgileError,
  type AgileScore,
  anonymize,
  checkThreshold,
  ClassifierError,
  classify,
  detectPii,
  parsePiiTypes,
  parsePolicies,
  PiiError,
  type PiiHit,
  type PiiOperator,
  type Policy,
  PolicyError,
  type PolicyScore,
  readAgileConfig,
  selectPolicies,
} from "../safety/mod.ts";
import { parseInteger, parseNumber, UsageError, writeStdout } from "./common.ts";
import { memorizationCommand } from "./safety_memorization.ts";
import { safetyTrainCommand } from "./safety_train.ts";
import { loadModel } from "./model_source.ts";

export function safetyCommand(): Command {
  const command = new Command("safety")
    .description(
      "PII detection and redaction, safety-policy and agile classifiers, and the memorization probe",
    )
    .addCommand(piiCommand())
    .addCommand(classifyCommand())
    .addCommand(safetyTrainCommand())
    .addCommand(memorizationCommand({ scanPii: (text) => detectPii(text) }));
  for (const sub of command.commands) sub.exitOverride().configureOutput({ writeErr: () => {} });
  return command;
}

/** Runs `action`, turning the safety layer's input errors into usage errors (exit code 1). */
async function asUsage(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (
      error instanceof PiiError || error instanceof PolicyError ||
      error instanceof ClassifierError || error instanceof AgileError
    ) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

// --- input --------------------------------------------------------------------------------

/** The input lines: stdin (`-`, or nothing with --jsonl) or the argument; strict UTF-8. */
async function readInput(text: string | undefined, jsonl: boolean): Promise<string[]> {
  if (text !== undefined && text !== "-") return jsonl ? text.split("\n") : [text];
  if (text === undefined && !jsonl) {
    throw new UsageError("no text: give it as an argument, or - to read stdin");
  }
  const bytes = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  const lines = decodeLines(bytes);
  return jsonl ? lines : [lines.join("\n")];
}

/** Splits bytes at "\n" and decodes each line as UTF-8, naming the first line that is not. */
export function decodeLines(bytes: Uint8Array): string[] {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x0a) continue;
    try {
      lines.push(decoder.decode(bytes.subarray(start, i)));
    } catch {
      throw new UsageError(`stdin line ${lines.length + 1} is not valid UTF-8`);
    }
    start = i + 1;
  }
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop(); // the final newline
  return lines;
}

/** A JSONL input line: an object with a string "text" (other fields are kept). */
function parseRecord(line: string, n: number): Record<string, unknown> & { text: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new UsageError(`--jsonl line ${n}: not JSON`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(`--jsonl line ${n}: expected an object with "text"`);
  }
  const record = value as Record<string, unknown>;
  if (typeof record.text !== "string") {
    throw new UsageError(`--jsonl line ${n}: no "text" string`);
  }
  return record as Record<string, unknown> & { text: string };
}

/** JSONL records (blank lines skipped), each with its line number. */
function records(
  lines: string[],
): { record: Record<string, unknown> & { text: string }; n: number }[] {
  return lines.map((line, i) => ({ line, n: i + 1 })).filter(({ line }) => line.trim() !== "")
    .map(({ line, n }) => ({ record: parseRecord(line, n), n }));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(",").map((s) => s.trim()).filter((s) => s !== "")];
}

// --- gemma safety pii ---------------------------------------------------------------------

interface PiiFlags {
  redact?: boolean;
  mask?: boolean;
  hash?: boolean;
  types?: string;
  minScore?: number;
  maskKeep?: number;
  maskChar?: string;
  salt?: string;
  regions?: string;
  json?: boolean;
  jsonl?: boolean;
}

function piiCommand(): Command {
  return new Command("pii")
    .description(
      "find personal data and secrets, and print the text with each replaced by <TYPE> (or masked, removed, hashed)",
    )
    .argument("[text]", "the text, or - to read stdin")
    .option("--redact", "remove each hit")
    .option("--mask", "mask each hit, keeping its last --mask-keep letters and digits")
    .option("--hash", "replace each hit by <TYPE:HMAC-SHA-256 of the value> (needs a salt)")
    .option("--types <list>", "comma-separated types to look for (default all)")
    .option(
      "--min-score <p>",
      "drop hits scoring below p (default 0.5)",
      parseNumber("--min-score"),
    )
    .option("--mask-keep <n>", "characters --mask keeps (default 4)", parseInteger("--mask-keep"))
    .option("--mask-char <c>", "the masking character (default *)")
    .option("--salt <text>", "the --hash key (default: $GEMMA_PII_SALT)")
    .option(
      "--regions <list>",
      "countries whose national phone formats count (default US,GB,DE,FR)",
    )
    .option("--json", "print {text, entities} as JSON")
    .option("--jsonl", 'read JSON lines with "text"; write them back anonymized, with "pii"')
    .action((text: string | undefined, flags: PiiFlags) => asUsage(() => runPii(text, flags)));
}

function piiOperator(flags: PiiFlags): PiiOperator {
  const chosen = [flags.redact && "--redact", flags.mask && "--mask", flags.hash && "--hash"]
    .filter(Boolean);
  if (chosen.length > 1) throw new UsageError(`${chosen.join(" and ")} do not go together`);
  if (flags.mask) {
    if (flags.maskChar !== undefined && [...flags.maskChar].length !== 1) {
      throw new UsageError("--mask-char must be one character");
    }
    return { kind: "mask", keep: flags.maskKeep, char: flags.maskChar };
  }
  if (flags.redact) return { kind: "redact" };
  if (flags.hash) {
    const salt = flags.salt ?? Deno.env.get("GEMMA_PII_SALT") ?? "";
    if (salt === "") throw new UsageError("--hash needs a salt: --salt or GEMMA_PII_SALT");
    return { kind: "hash", salt };
  }
  return { kind: "replace" };
}

function entitiesJson(hits: PiiHit[]) {
  return hits.map((h) => ({
    type: h.type,
    start: h.start,
    end: h.end,
    score: h.score,
    ...(h.detail ? { detail: h.detail } : {}),
  }));
}

async function runPii(text: string | undefined, flags: PiiFlags): Promise<void> {
  if (flags.json && flags.jsonl) throw new UsageError("--json and --jsonl do not go together");
  const operator = piiOperator(flags);
  const options = {
    types: flags.types === undefined ? undefined : parsePiiTypes(flags.types),
    minScore: flags.minScore,
    phoneRegions: flags.regions?.split(",").map((s) => s.trim().toUpperCase()),
  };
  const lines = await readInput(text, flags.jsonl ?? false);
  if (flags.jsonl) {
    // Every line is checked before anything is written.
    const all = records(lines);
    for (const { record } of all) {
      const hits = detectPii(record.text, options);
      const out = { ...record, text: await anonymize(record.text, hits, operator) };
      writeStdout(JSON.stringify({ ...out, pii: entitiesJson(hits) }) + "\n");
    }
    return;
  }
  const input = lines[0];
  if (input.trim() === "") throw new UsageError("the text is empty");
  const hits = detectPii(input, options);
  const anonymized = await anonymize(input, hits, operator);
  if (flags.json) {
    writeStdout(JSON.stringify({ text: anonymized, entities: entitiesJson(hits) }) + "\n");
  } else {
    writeStdout(anonymized.endsWith("\n") ? anonymized : anonymized + "\n");
  }
}

// --- gemma safety classify ----------------------------------------------------------------

interface ClassifyFlags {
  policy: string[];
  policyFile?: string;
  response?: string;
  threshold?: number;
  json?: boolean;
  jsonl?: boolean;
  model?: string;
  dtype?: string;
  quant?: string;
  ctx?: number;
  quiet?: boolean;
  adapter?: string;
}

function classifyCommand(): Command {
  return new Command("classify")
    .description(
      "score a prompt (or a response to it) against safety policies: P(Yes) per policy, ShieldGemma's method",
    )
    .argument("[text]", "the user prompt, or - to read stdin")
    .option(
      "--policy <name>",
      "dangerous, hate, sexual, harassment or a --policy-file policy (repeatable, or comma-separated; default all four, or the file's)",
      collect,
      [],
    )
    .option("--policy-file <file>", 'custom policies: a JSON array of {"name", "description"}')
    .option("--response <text>", "classify this chatbot response to the prompt instead")
    .option(
      "--threshold <p>",
      "P(Yes) at or above which a policy counts as violated (default 0.5); with a two-label --adapter, P(second label) at or above which it is predicted (default: the most probable label)",
      parseNumber("--threshold"),
    )
    .option("--json", "print one JSON object")
    .option("--jsonl", 'read JSON lines with "text" (and "response"); add "safety" to each')
    .option(
      "-m, --model <path>",
      "a model name (gemma3:270m, the default), a Hugging Face folder or a .gguf file; ShieldGemma for real use",
    )
    .option("--dtype <type>", "weight precision on the GPU: f16 or f32 (default f16 if supported)")
    .option("--quant <type>", "quantize float weights on load: q8_0 or q4_0")
    .option("--ctx <n>", "context length (KV cache positions)", parseInteger("--ctx", 1))
    .option(
      "--adapter <dir>",
      "an agile classifier (gemma safety train's folder): P(label) per label instead of policies",
    )
    .option("-q, --quiet", "no notices or progress on stderr")
    .action((text: string | undefined, flags: ClassifyFlags) =>
      asUsage(() => runClassify(text, flags))
    );
}

async function readPolicyFile(path: string): Promise<Policy[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new UsageError(`Cannot read the policy file "${path}": ${why}`);
  }
  return parsePolicies(text, path);
}

function safetyJson(scores: PolicyScore[], threshold: number) {
  const policies = scores.map((s) => ({
    policy: s.policy.key,
    name: s.policy.name,
    p_yes: s.pYes,
    violation: s.pYes >= threshold,
  }));
  return { violation: policies.some((p) => p.violation), threshold, policies };
}

async function runClassify(text: string | undefined, flags: ClassifyFlags): Promise<void> {
  if (flags.json && flags.jsonl) throw new UsageError("--json and --jsonl do not go together");
  if (flags.adapter !== undefined) return await runAgileClassify(text, flags);
  const threshold = flags.threshold ?? 0.5;
  if (threshold < 0 || threshold > 1) {
    throw new UsageError(`--threshold must be between 0 and 1, got ${threshold}`);
  }
  if (flags.jsonl && flags.response !== undefined) {
    throw new UsageError('with --jsonl, give each response as the line\'s "response"');
  }
  // Policies and every input are checked before the model loads.
  const custom = flags.policyFile === undefined ? [] : await readPolicyFile(flags.policyFile);
  const policies = selectPolicies(flags.policy, custom);
  const lines = await readInput(text, flags.jsonl ?? false);
  const inputs = flags.jsonl
    ? records(lines).map(({ record, n }) => {
      if (record.response !== undefined && typeof record.response !== "string") {
        throw new UsageError(`--jsonl line ${n}: "response" must be a string`);
      }
      if (record.text.trim() === "") throw new UsageError(`--jsonl line ${n}: "text" is empty`);
      return { record, text: record.text, response: record.response as string | undefined };
    })
    : [{ record: undefined, text: lines[0], response: flags.response }];
  for (const input of inputs) {
    if (input.text.trim() === "") throw new UsageError("the text is empty");
    if (input.response !== undefined && input.response.trim() === "") {
      throw new UsageError("the response is empty");
    }
  }
  const loaded = await loadModel(flags);
  const session = new GemmaSession(loaded.model, { contextLength: flags.ctx });
  try {
    for (const input of inputs) {
      const scores = await classify(session, loaded.tokenizer, input.text, policies, {
        response: input.response,
      });
      const result = safetyJson(scores, threshold);
      if (input.record) {
        writeStdout(JSON.stringify({ ...input.record, safety: result }) + "\n");
      } else if (flags.json) {
        writeStdout(JSON.stringify(result) + "\n");
      } else {
        const width = Math.max(...policies.map((p) => p.name.length));
        for (const p of result.policies) {
          writeStdout(
            `${p.name.padEnd(width)}  ${p.p_yes.toFixed(4)}  ${p.violation ? "violation" : "ok"}\n`,
          );
        }
      }
    }
  } finally {
    session.destroy();
  }
}

// --- gemma safety classify --adapter (agile classifiers) ----------------------------------

/** The score as JSON; threshold null: the most probable label was predicted. */
function agileJson(score: AgileScore, threshold: number | undefined) {
  return {
    label: score.label,
    probabilities: Object.fromEntries(score.probabilities),
    threshold: threshold ?? null,
  };
}

async function runAgileClassify(text: string | undefined, flags: ClassifyFlags): Promise<void> {
  const policyFlags = [
    flags.policy.length > 0 && "--policy",
    flags.policyFile !== undefined && "--policy-file",
    flags.response !== undefined && "--response",
  ].filter(Boolean);
  if (policyFlags.length > 0) {
    throw new UsageError(`${policyFlags.join(", ")}: not for an agile classifier (--adapter)`);
  }
  // The adapter's labels, the threshold and every input are checked before the model loads.
  const config = await readAgileConfig(flags.adapter!);
  const threshold = flags.threshold;
  if (threshold !== undefined) {
    try {
      checkThreshold(config.labels, threshold);
    } catch (error) {
      if (error instanceof AgileError) throw new UsageError(`--threshold: ${error.message}`);
      throw error;
    }
  }
  const lines = await readInput(text, flags.jsonl ?? false);
  const inputs = flags.jsonl
    ? records(lines).map(({ record, n }) => {
      if (record.text.trim() === "") throw new UsageError(`--jsonl line ${n}: "text" is empty`);
      return { record, text: record.text };
    })
    : [{ record: undefined, text: lines[0] }];
  if (inputs.some((input) => input.text.trim() === "")) {
    throw new UsageError("the text is empty");
  }
  const loaded = await loadModel(flags);
  const session = new GemmaSession(loaded.model, { contextLength: flags.ctx });
  try {
    const classifier = new AgileClassifier(session, loaded.tokenizer, { ...config, threshold });
    for (const input of inputs) {
      const score = await classifier.score(input.text);
      if (input.record) {
        const agile = agileJson(score, threshold);
        writeStdout(JSON.stringify({ ...input.record, agile }) + "\n");
      } else if (flags.json) {
        writeStdout(JSON.stringify(agileJson(score, threshold)) + "\n");
      } else {
        const width = Math.max(...config.labels.map((l) => l.length));
        for (const [label, p] of score.probabilities) {
          const mark = label === score.label ? "  predicted" : "";
          writeStdout(`${label.padEnd(width)}  ${p.toFixed(4)}${mark}\n`);
        }
        if (threshold !== undefined) {
          const positive = config.labels[1];
          writeStdout(
            `threshold ${threshold}: ${positive} predicted when P(${positive}) ≥ ${threshold}\n`,
          );
        }
      }
    }
  } finally {
    session.destroy();
  }
}
