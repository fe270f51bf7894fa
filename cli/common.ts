// What the subcommands share: a progress line on stderr, parsing numeric flags, and turning errors
// into one line and an exit code.

import { CommanderError } from "commander";
import {
  ChatTemplateError,
  CheckpointError,
  ConfigError,
  ContextError,
  DataError,
  LoraError,
  SamplingError,
  TokenizerError,
  ZipError,
} from "../core/mod.ts";

/** Bad usage or input: exit code 1. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Ends a command with exit code `code`, printing `message` (if any) as is on stderr. */
export class ExitStatus extends Error {
  override name = "ExitStatus";
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

/** A one-line progress display on stderr (`stage` replaces the label while it is given). */
export function progressLine(label: string) {
  const encoder = new TextEncoder();
  let last = -1;
  return {
    update(done: number, total: number, stage?: string) {
      const percent = Math.floor((100 * done) / Math.max(total, 1));
      if (percent === last && stage === undefined) return;
      last = percent;
      const gb = (n: number) => (n / 1e9).toFixed(2);
      const text = `${label}${stage ? ` (${stage})` : ""} ${percent}% (${gb(done)}/${
        gb(total)
      } GB)`;
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${text}`));
    },
    done() {
      Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
    },
  };
}

export function parseInteger(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new UsageError(`${name} must be an integer ≥ ${min}, got "${value}"`);
    }
    return n;
  };
}

export function parseNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) {
      throw new UsageError(`${name} must be a number, got "${value}"`);
    }
    return n;
  };
}

/** Exit code for an error: 1 for bad usage or input, 2 for runtime and GPU failures. */
export function exitCodeFor(error: unknown): number {
  const inputErrors = [
    UsageError,
    ChatTemplateError,
    CheckpointError,
    ConfigError,
    TokenizerError,
    ContextError,
    SamplingError,
    CommanderError,
    ZipError,
    LoraError,
    DataError,
    Deno.errors.NotFound,
    Deno.errors.PermissionDenied,
  ];
  if (inputErrors.some((type) => error instanceof type)) return 1;
  return 2; // GpuError, PullError (no Python, pip or registry, or a wrong checksum) and the rest
}

export function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
}

/** Reads all of stdin as text. */
export async function readStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

/** Writes text to stdout without buffering it, so tokens appear as they are produced. */
export function writeStdout(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}
