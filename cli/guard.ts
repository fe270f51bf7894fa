// --guard and --redact-pii for `generate` and `chat`: the options, loading the guard's classifier,
// and one guarded turn (prompt check, then guarded generation) with what it prints.

import type { Command } from "commander";
import {
  GemmaSession,
  type GemmaTokenizer,
  type GenerateOptions,
  type GenerateResult,
} from "../core/mod.ts";
import {
  ClassifierError,
  Guard,
  type GuardCheck,
  guardedGenerate,
  parsePolicies,
  type Policy,
  PolicyError,
  selectPolicies,
  yesNoIds,
} from "../safety/mod.ts";
import { parseNumber, UsageError } from "./common.ts";
import { type LoadedModel, loadModel } from "./model_source.ts";

/** What a blocked prompt gets on stdout (the reason goes to stderr). */
export const REFUSAL = "I can't help with that.";
/** The exit code when the guard blocked a prompt or stopped a response. */
export const GUARD_EXIT_CODE = 3;

export interface GuardFlags {
  guard?: string | boolean;
  guardModel?: string;
  guardPolicyFile?: string;
  guardThreshold?: number;
  redactPii?: boolean;
  dtype?: string;
  quant?: string;
  quiet?: boolean;
}

export function addGuardOptions(command: Command): Command {
  return command
    .option(
      "--guard [policies]",
      "check the prompt, and the response as it streams, against safety policies (comma-separated: dangerous, hate, sexual, harassment or --guard-policy-file's; default all)",
    )
    .option(
      "--guard-model <path>",
      "the classifier for --guard (default: the generating model); a ShieldGemma checkpoint in real use",
    )
    .option(
      "--guard-policy-file <file>",
      "custom policies for --guard (JSON: [{name, description}])",
    )
    .option(
      "--guard-threshold <p>",
      "P(Yes) at which --guard blocks (default 0.5)",
      parseNumber("--guard-threshold"),
    )
    .option("--redact-pii", "replace personal data in the output by <TYPE> before printing it");
}

export interface ActiveGuard {
  guard: Guard;
  destroy(): void;
}

/** The guard the flags ask for (undefined for none), its classifier loaded. */
export async function setupGuard(
  flags: GuardFlags,
  loaded: LoadedModel,
): Promise<ActiveGuard | undefined> {
  const wantsPolicies = flags.guard !== undefined && flags.guard !== false;
  if (!wantsPolicies && !flags.redactPii) {
    for (
      const [set, name] of [[flags.guardModel, "--guard-model"], [
        flags.guardPolicyFile,
        "--guard-policy-file",
      ], [flags.guardThreshold, "--guard-threshold"]] as const
    ) {
      if (set !== undefined) throw new UsageError(`${name} needs --guard`);
    }
    return undefined;
  }
  const threshold = flags.guardThreshold ?? 0.5;
  if (threshold < 0 || threshold > 1) {
    throw new UsageError(`--guard-threshold must be between 0 and 1, got ${threshold}`);
  }
  let policies: Policy[] = [];
  if (wantsPolicies) {
    try {
      const custom = flags.guardPolicyFile === undefined
        ? []
        : parsePolicies(await readText(flags.guardPolicyFile), flags.guardPolicyFile);
      const names = typeof flags.guard === "string"
        ? flags.guard.split(",").map((s) => s.trim()).filter((s) => s !== "")
        : [];
      policies = selectPolicies(names, custom);
    } catch (error) {
      if (error instanceof PolicyError) throw new UsageError(error.message);
      throw error;
    }
  }
  if (policies.length === 0) {
    return { guard: new Guard({ policies, threshold, redactPii: true }), destroy() {} };
  }
  const classifierModel = flags.guardModel === undefined ? loaded : await loadModel({
    ...flags,
    model: flags.guardModel,
    adapter: undefined,
    adapterScale: undefined,
  });
  try {
    yesNoIds(classifierModel.tokenizer); // fail now, not at the first check
  } catch (error) {
    if (error instanceof ClassifierError) throw new UsageError(`--guard: ${error.message}`);
    throw error;
  }
  const session = new GemmaSession(classifierModel.model);
  const guard = new Guard(
    { policies, threshold, redactPii: flags.redactPii ?? false },
    { session, tokenizer: classifierModel.tokenizer },
  );
  return {
    guard,
    destroy() {
      session.destroy();
      if (classifierModel !== loaded) classifierModel.model.destroy();
    },
  };
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new UsageError(`Cannot read the policy file "${path}": ${why}`);
  }
}

export interface GuardedTurn {
  /** Undefined when the prompt was blocked. */
  result?: GenerateResult;
  /** The response as passed on (cleared sentences, PII redacted). */
  text: string;
  /** Why the guard blocked the prompt or stopped the response. */
  blocked?: string;
  safety: Record<string, unknown>;
}

/**
 * One guarded turn: the prompt is checked first (a violation generates nothing); the response's
 * cleared sentences go to `options.onText`. A classifier error propagates: nothing unchecked is
 * printed (the guard fails closed).
 */
export async function guardedTurn(
  active: ActiveGuard,
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  ids: number[],
  prompt: string,
  options: GenerateOptions,
): Promise<GuardedTurn> {
  const { guard } = active;
  const msBefore = guard.ms;
  const checks: GuardCheck[] = [];
  if (guard.enforcesPolicies) {
    if (prompt.trim() === "") throw new UsageError("--guard: the prompt is empty");
    const check = await guard.checkPrompt(prompt);
    checks.push(check);
    if (check.violated.length > 0) {
      return {
        text: "",
        blocked: guard.reason(check),
        safety: safetyJson(guard, checks, "prompt", guard.ms - msBefore),
      };
    }
  }
  const out = await guardedGenerate(session, tokenizer, ids, { ...options, prompt, guard });
  checks.push(...out.checks);
  return {
    result: out.result,
    text: out.text,
    blocked: out.blocked && `${guard.reason(out.blocked)}; generation stopped`,
    safety: safetyJson(guard, checks, out.blocked ? "response" : null, guard.ms - msBefore),
  };
}

function safetyJson(
  guard: Guard,
  checks: GuardCheck[],
  blocked: "prompt" | "response" | null,
  ms: number,
) {
  return {
    blocked,
    threshold: guard.config.threshold,
    policies: guard.config.policies.map((p) => p.key),
    redact_pii: guard.config.redactPii,
    checks: checks.map((c) => ({
      stage: c.stage,
      scores: c.scores,
      violated: c.violated,
      ms: Math.round(c.ms * 100) / 100,
    })),
    guard_ms: Math.round(ms * 100) / 100,
  };
}
