// Corpora for the memorization probe. A file ending in .jsonl (or .ndjson) holds one document per
// non-empty line, an object whose string field `text` (or the field named) is the document; any
// other file is plain UTF-8 text and is one document as a whole (a README, a book, a dump of one
// record), so its windows may start anywhere in it. Invalid UTF-8, an empty file, or a JSONL line
// without the field is an error naming the file (and line).

export class CorpusError extends Error {
  override name = "CorpusError";
}

export interface CorpusFile {
  path: string;
  format: "text" | "jsonl";
  documents: string[];
}

export interface CorpusOptions {
  /** JSONL: the field holding the document's text (default "text"). */
  field?: string;
}

export function isJsonl(path: string): boolean {
  return /\.(jsonl|ndjson)$/i.test(path);
}

export async function readCorpus(path: string, options: CorpusOptions = {}): Promise<CorpusFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new CorpusError(`Cannot read the corpus "${path}": ${why}`);
  }
  if (bytes.length === 0) throw new CorpusError(`The corpus "${path}" is empty`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CorpusError(`The corpus "${path}" is not valid UTF-8`);
  }
  if (!isJsonl(path)) {
    if (text.trim() === "") throw new CorpusError(`The corpus "${path}" has only white space`);
    return { path, format: "text", documents: [text] };
  }
  return { path, format: "jsonl", documents: jsonlDocuments(path, text, options.field ?? "text") };
}

function jsonlDocuments(path: string, text: string, field: string): string[] {
  const documents: string[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `The corpus "${path}" line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new CorpusError(`${where} is not JSON`);
    }
    const document = typeof value === "object" && value !== null
      ? (value as Record<string, unknown>)[field]
      : undefined;
    if (typeof document !== "string") {
      throw new CorpusError(`${where} has no string field "${field}"`);
    }
    documents.push(document);
  });
  if (documents.length === 0) throw new CorpusError(`The corpus "${path}" has no documents`);
  return documents;
}
