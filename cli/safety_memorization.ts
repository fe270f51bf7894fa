// `gemma safety memorization`: how much of a corpus the model reproduces. Samples windows of
// prefix + suffix tokens, decodes the suffix greedily from the prefix, and reports exact and
// approximate matches (per corpus file and overall), the common-prefix distribution and examples.

import { Command } from "commander";
import { CorpusError, readCorpus } from "../safety/corpus.ts";
import { MemorizationError, type PiiScanner, probeMemorization } from "../safety/memorization.ts";
import {
  formatMemorizationReport,
  memorizationReport,
  windowRecord,
} from "../safety/memorization_report.ts";
import { parseInteger, UsageError, writeStdout } from "./common.ts";
import { addAdapterOptions } from "./generate.ts";
import { loadModel } from "./model_source.ts";

interface MemorizationFlags {
  model?: string;
  adapter?: string;
  adapterScale?: number;
  dtype?: string;
  quant?: string;
  corpus: string[];
  field?: string;
  prefix: number;
  suffix: number;
  samples: number;
  seed: number;
  parallel: number;
  fullSuffix?: boolean;
  json?: boolean;
  logSamples?: string;
  quiet?: boolean;
}

export interface MemorizationCommandOptions {
  /**
   * Scans memorized output for personal data (cli/safety.ts passes safety's detectPii); without
   * one the report's "pii" is null.
   */
  scanPii?: PiiScanner;
  /** Where the report goes (default stdout) and notes and progress (default stderr). */
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

export function memorizationCommand(options: MemorizationCommandOptions = {}): Command {
  const command = new Command("memorization")
    .description(
      "measure memorization: greedy suffixes of sampled corpus windows against the true ones",
    )
    .requiredOption(
      "--corpus <files...>",
      "plain text files (one document each) or .jsonl files (one document per line)",
    )
    .option("-m, --model <path>", "a model name (gemma3:270m, the default), a folder or a .gguf")
    .option("--dtype <type>", "weight precision on the GPU: f16 or f32")
    .option("--quant <type>", "quantize float weights on load: q8_0 or q4_0")
    .option("--field <name>", "the text field of .jsonl documents (default text)")
    .option("--prefix <n>", "prefix tokens fed after <bos>", parseInteger("--prefix", 1), 50)
    .option(
      "--suffix <n>",
      "suffix tokens decoded greedily (no stop at <eos>) and compared",
      parseInteger("--suffix", 1),
      50,
    )
    .option("--samples <n>", "windows to sample", parseInteger("--samples", 1), 1000)
    .option("--seed <n>", "seed of the window sample", parseInteger("--seed"), 0)
    .option("--parallel <n>", "windows decoded together", parseInteger("--parallel", 1), 8)
    .option(
      "--full-suffix",
      "decode every suffix token, also of windows already too far from the truth (slower)",
    )
    .option("--json", "print the whole report as JSON")
    .option("--log-samples <file>", "write every window as a JSON line to this file")
    .option("-q, --quiet", "no notes or progress on stderr");
  // The probe of a fine-tuned model: its LoRA adapter applied to the base, as generate applies it.
  return addAdapterOptions(command)
    .action(async (flags: MemorizationFlags) => {
      try {
        await runMemorization(flags, options);
      } catch (error) {
        if (error instanceof CorpusError || error instanceof MemorizationError) {
          throw new UsageError(error.message);
        }
        throw error;
      }
    });
}

async function runMemorization(
  flags: MemorizationFlags,
  options: MemorizationCommandOptions,
): Promise<void> {
  const out = options.stdout ?? writeStdout;
  const err = options.stderr ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  if (flags.field !== undefined && !flags.corpus.some((p) => /\.(jsonl|ndjson)$/i.test(p))) {
    throw new UsageError("--field names a field of .jsonl corpora, and none was given");
  }
  const corpora = [];
  for (const path of flags.corpus) corpora.push(await readCorpus(path, { field: flags.field }));
  const loaded = await loadModel(flags);
  // On a terminal one line rewritten as windows finish; in a log a line per tenth of them.
  const terminal = options.stderr === undefined && Deno.stderr.isTerminal();
  const began = performance.now();
  let shown = 0;
  const probe = await probeMemorization(loaded.model, loaded.tokenizer, corpora, {
    prefix: flags.prefix,
    suffix: flags.suffix,
    samples: flags.samples,
    seed: flags.seed,
    parallel: flags.parallel,
    fullSuffix: flags.fullSuffix,
    scanPii: options.scanPii,
    onProgress: flags.quiet ? undefined : (done, total) => {
      const tenth = Math.floor((10 * done) / total);
      if (!terminal && (tenth === shown || done === total)) return;
      shown = tenth;
      const rate = done / ((performance.now() - began) / 1000);
      const text = `memorization: ${done}/${total} windows (${rate.toFixed(2)} windows/s)`;
      err(terminal ? `\r\x1b[K${text}` : `${text}\n`);
    },
  });
  if (terminal && !flags.quiet) err("\r\x1b[K");
  const report = memorizationReport(probe, loaded.tokenizer, {
    scanned: options.scanPii !== undefined,
    // As the user named it (or the default it fell back to), and the file that was read.
    model: {
      name: flags.model ?? loaded.source.known?.name ?? loaded.source.path,
      path: await Deno.realPath(loaded.source.path),
    },
    adapter: flags.adapter === undefined
      ? null
      : { path: flags.adapter, scale: flags.adapterScale ?? 1 },
  });
  if (!flags.quiet) {
    for (const note of probe.notes) err(`note: ${note}\n`);
    err(
      `decoded ${probe.windows.length} windows in ${probe.decodeSeconds.toFixed(1)} s (${
        report.timing.windows_per_s.toFixed(2)
      } windows/s, ${probe.parallel} together)\n`,
    );
  }
  if (flags.logSamples !== undefined) {
    const lines = probe.windows.map((w) =>
      JSON.stringify(windowRecord(w, probe, loaded.tokenizer))
    );
    await writeAtomically(flags.logSamples, lines.join("\n") + "\n");
  }
  out(flags.json ? JSON.stringify(report, null, 2) + "\n" : formatMemorizationReport(report));
}

const encoder = new TextEncoder();

/** Writes beside the target and renames, so a reader never sees half a file. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.partial-${Deno.pid}`;
  try {
    await Deno.writeTextFile(temporary, text);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw new UsageError(`Cannot write "${path}": ${(error as Error).message}`);
  }
}
