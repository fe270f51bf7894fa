// Task data from local files, in the layouts datasets are published in on the Hugging Face hub:
// JSON lines (.jsonl), JSON (.json: an array of records, or JSON lines as HF's loader accepts) and
// Parquet (.parquet, read by hyparquet; its 64-bit integers become numbers); a .txt file is one
// record {"text": its contents}; a folder written by `datasets`' save_to_disk (state.json listing
// its data-*.arrow files, Arrow IPC streams) is one split's records, in state.json's file order.
// Every problem is one line naming the file, the line (or record) and the field.

import { parquetReadObjects } from "hyparquet";
import { ArrowError, readArrowIpc } from "./arrow_ipc.ts";

export class EvalDataError extends Error {
  override name = "EvalDataError";
}

export type DataRecord = Record<string, unknown>;

/** A record and where it came from, for error messages ("file.jsonl:12"). */
export interface SourcedRecord {
  record: DataRecord;
  where: string;
}

/** Reads every record of a .jsonl, .json, .parquet or .txt file, or of a save_to_disk split folder. */
export async function readRecords(path: string): Promise<SourcedRecord[]> {
  if (await isFolder(path)) return await readSavedSplit(path);
  const bytes = await readBytes(path);
  if (path.endsWith(".parquet")) return await readParquet(path, bytes);
  if (path.endsWith(".arrow")) return readArrow(path, bytes);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new EvalDataError(`Cannot read "${path}": not UTF-8 text`);
  }
  // Plain text (a perplexity task's own data): the whole file is one document.
  if (path.endsWith(".txt")) return [sourced({ text }, path)];
  if (path.endsWith(".json") && /^\s*\[/.test(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new EvalDataError(
        `Cannot read "${path}": not valid JSON (${(error as Error).message})`,
      );
    }
    return (parsed as unknown[]).map((record, i) => sourced(record, `${path} record ${i + 1}`));
  }
  const records: SourcedRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[i]);
    } catch (error) {
      throw new EvalDataError(`${path}:${i + 1}: not valid JSON (${(error as Error).message})`);
    }
    records.push(sourced(parsed, `${path}:${i + 1}`));
  }
  return records;
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "file not found" : (error as Error).message;
    throw new EvalDataError(`Cannot read "${path}": ${why}`);
  }
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false; // readBytes says why
  }
}

/** Whether `folder` holds one split written by save_to_disk (its state.json). */
export async function isSavedSplit(folder: string): Promise<boolean> {
  try {
    return (await Deno.stat(`${folder}/state.json`)).isFile;
  } catch {
    return false;
  }
}

/**
 * The records of a save_to_disk split: state.json's `_data_files`, in order, each an Arrow stream
 * (none for a split of no rows).
 */
async function readSavedSplit(folder: string): Promise<SourcedRecord[]> {
  const statePath = `${folder.replace(/\/$/, "")}/state.json`;
  if (!(await isSavedSplit(folder))) {
    throw new EvalDataError(
      `Cannot read "${folder}": a folder, but not a split saved by datasets' save_to_disk (no state.json)`,
    );
  }
  let files: string[];
  try {
    const state = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      await Deno.readFile(statePath),
    ));
    files = state._data_files.map((entry: { filename: unknown }) => entry.filename);
    // Plain names inside the folder, as save_to_disk writes them.
    if (!files.every((f) => typeof f === "string" && /^[^/\\]+$/.test(f))) {
      throw new Error();
    }
  } catch {
    throw new EvalDataError(
      `Cannot read "${statePath}": expected save_to_disk's JSON with "_data_files": [{"filename": ...}]`,
    );
  }
  const records: SourcedRecord[] = [];
  for (const name of files) {
    const path = `${statePath.slice(0, -"state.json".length)}${name}`;
    records.push(...readArrow(path, await readBytes(path)));
  }
  return records;
}

function readArrow(path: string, bytes: Uint8Array): SourcedRecord[] {
  try {
    return readArrowIpc(bytes).rows.map((row, i) => sourced(row, `${path} row ${i + 1}`));
  } catch (error) {
    if (!(error instanceof ArrowError)) throw error;
    throw new EvalDataError(`Cannot read "${path}": ${error.message}`);
  }
}

async function readParquet(path: string, bytes: Uint8Array): Promise<SourcedRecord[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  let rows: unknown[];
  try {
    rows = await parquetReadObjects({ file: file as ArrayBuffer });
  } catch (error) {
    throw new EvalDataError(
      `Cannot read "${path}": not a Parquet file hyparquet reads (${
        (error as Error).message.split("\n")[0]
      })`,
    );
  }
  return rows.map((row, i) => sourced(withNumbers(row), `${path} row ${i + 1}`));
}

/** Parquet's INT64 columns arrive as bigint; the tasks expect JSON's numbers. */
function withNumbers(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(withNumbers);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withNumbers(v)]));
  }
  return value;
}

function sourced(record: unknown, where: string): SourcedRecord {
  if (!record || typeof record !== "object" || Array.isArray(record)) {
    throw new EvalDataError(`${where}: expected a JSON object`);
  }
  return { record: record as DataRecord, where };
}

/** Field readers that name the record and the field when it is missing or of the wrong type. */
export function fields(source: SourcedRecord) {
  const { record, where } = source;
  const fail = (name: string, expected: string): never => {
    const value = record[name];
    const got = value === undefined ? "it is missing" : `got ${JSON.stringify(value)}`;
    throw new EvalDataError(`${where}: field "${name}" must be ${expected}; ${got}`);
  };
  return {
    where,
    string(name: string): string {
      const value = record[name];
      return typeof value === "string" ? value : fail(name, "a string");
    },
    strings(name: string, from: DataRecord = record): string[] {
      const value = from[name];
      const ok = Array.isArray(value) && value.length > 0 &&
        value.every((v) => typeof v === "string");
      return ok ? value as string[] : fail(name, "a non-empty list of strings");
    },
    object(name: string): DataRecord {
      const value = record[name];
      const ok = value && typeof value === "object" && !Array.isArray(value);
      return ok ? value as DataRecord : fail(name, "an object");
    },
    /** An integer, or a string of one (HellaSwag's labels are "0".."3"). */
    index(name: string, count: number): number {
      const value = record[name];
      const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n)) return fail(name, "an integer");
      if (n < 0 || n >= count) fail(name, `a choice index below ${count}`);
      return n;
    },
    has(name: string): boolean {
      return record[name] !== undefined;
    },
    fail,
  };
}
