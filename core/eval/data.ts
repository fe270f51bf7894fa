// Task data from local files, in the layouts datasets are published in on the Hugging Face hub:
// JSON lines (.jsonl), JSON (.json: an array of records, or JSON lines as HF's loader accepts) and
// Parquet (.parquet, read by hyparquet; its 64-bit integers become numbers); a .txt file is one
// record {"text": its contents}.
// Every problem is one line naming the file, the line (or record) and the field.

import { parquetReadObjects } from "hyparquet";

export class EvalDataError extends Error {
  override name = "EvalDataError";
}

export type DataRecord = Record<string, unknown>;

/** A record and where it came from, for error messages ("file.jsonl:12"). */
export interface SourcedRecord {
  record: DataRecord;
  where: string;
}

/** Reads every record of a .jsonl, .json or .parquet file. */
export async function readRecords(path: string): Promise<SourcedRecord[]> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "file not found" : (error as Error).message;
    throw new EvalDataError(`Cannot read "${path}": ${why}`);
  }
  if (path.endsWith(".parquet")) return await readParquet(path, bytes);
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
