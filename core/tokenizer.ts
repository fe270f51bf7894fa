/**
 * Gemma's tokenizer: reads a checkpoint's `tokenizer.json` + `tokenizer_config.json`.
 *
 * Encoding and decoding run on our own BPE tables (bpe.ts, built by bpe_build.ts and cached in
 * binary by bpe_cache.ts), which give exactly the ids and text of `@huggingface/tokenizers` (a
 * pure-JS port of HF's `tokenizers`, tested against it in bpe_test.ts) but load from the cache
 * in ≈ 35 ms instead of ≈ 1.1 s, and encode ≈ 4× faster.
 * A tokenizer.json those tables don't cover (another model type, a regex pre-tokenizer, …) is
 * handed to the library as before; `implementation` says which one is in use.
 *
 * On top of either, this wrapper fixes the few places where the library's API is awkward or
 * wrong for generation (the BPE tables reproduce the library, so the same fixes apply):
 *
 * - BOS: the library's TemplateProcessing post-processor prepends `<bos>` whenever
 *   `add_special_tokens` is on, even when the text already starts with a literal `<bos>` (e.g. a
 *   rendered chat template), giving `[2, 2, …]`. We always encode with `add_special_tokens: false`
 *   and prepend `bosId` ourselves, exactly once.
 * - Cleanup: the library defaults `clean_up_tokenization_spaces` to true when the config lacks it,
 *   which rewrites `" ."` → `"."` and breaks `decode(encode(s)) === s`. Gemma's config says false;
 *   we default to false.
 * - `decode([])` throws in the library; here it is `""`.
 * - Streaming: `StreamingDecoder` emits text token by token without splitting UTF-8 characters
 *   that the model spells as several byte-fallback tokens (`<0xF0><0x9F><0x98><0x80>` = 😀).
 *
 * Gemma facts this relies on (DESIGN.md §5): pad 0, eos 1, bos 2, `<start_of_turn>` 106,
 * `<end_of_turn>` 107; the normalizer only maps " " → "▁" (no dummy-prefix space), so decoding is
 * plain concatenation of token strings with "▁" → " " and byte-fallback runs fused into UTF-8.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { type BpeTables, BpeTokenizer } from "./bpe.ts";
import { buildBpeTables, unsupportedConfig } from "./bpe_build.ts";
import {
  cacheKey,
  defaultCacheDir,
  fileStamp,
  readCachedTables,
  writeCachedTables,
} from "./bpe_cache.ts";

/** Any failure to load or use a tokenizer; messages are one line and name the file. */
export class TokenizerError extends Error {
  override name = "TokenizerError";
}

export interface LoadTokenizerOptions {
  /** Read the tokenizer from this file instead of `<dir>/tokenizer.json`. */
  tokenizerPath?: string;
  /** Read the config from this file instead of `<dir>/tokenizer_config.json` (must exist then). */
  configPath?: string;
  /**
   * Folder for the binary tokenizer cache (default `$XDG_CACHE_HOME/gemma` or `~/.cache/gemma`;
   * null: no cache). Failing to read or write it only makes loading slower.
   */
  cacheDir?: string | null;
}

export interface EncodeOptions {
  /** Prepend `<bos>` (default true). Never doubled: a text that already starts with `<bos>` keeps one. */
  addBos?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (`<bos>`, `<eos>`, `<start_of_turn>`, …) from the text (default false). */
  skipSpecial?: boolean;
}

/** tokenizer_config.json, only the fields we read (HF writes many more). */
type TokenizerConfig = Record<string, unknown>;

/** Config tokens are either `"<bos>"` or, in older files, an AddedToken dict `{ content: "<bos>" }`. */
function configToken(config: TokenizerConfig, key: string, fallback: string): string {
  const v = config[key];
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return fallback;
}

/**
 * `chat_template` is a string, or (multi-template repos) a list of `{ name, template }` where the
 * one named "default" is the chat template.
 */
export function configChatTemplate(config: TokenizerConfig): string | undefined {
  const t = config.chat_template;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t.find((x) => x?.name === "default") ?? t[0];
    if (typeof named?.template === "string") return named.template;
  }
  return undefined;
}

/** What GemmaTokenizer needs from an implementation (no bos logic: the wrapper adds it). */
interface TokenizerImplementation {
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: number[], skipSpecial: boolean, cleanUp: boolean): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

/** `@huggingface/tokenizers`, for tokenizer.json files our BPE tables don't cover. */
function libraryTokenizer(json: unknown, config: TokenizerConfig): TokenizerImplementation {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json as Record<string, unknown>, { ...config });
  } catch (err) {
    throw new TokenizerError(`unsupported tokenizer: ${(err as Error).message}`);
  }
  return {
    // The library's model.vocab is an id → token array that already includes added tokens.
    vocabSize: tok.model?.vocab.length ?? 0,
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids, skipSpecial, cleanUp) =>
      tok.decode(ids, { skip_special_tokens: skipSpecial, clean_up_tokenization_spaces: cleanUp }),
    tokenToId: (token) => tok.token_to_id(token),
    idToToken: (id) => tok.id_to_token(id),
  };
}

/** Tables from buildBpeTables or the cache (a parsed JSON never holds typed arrays). */
function isBpeTables(x: unknown): x is BpeTables {
  return !!x && typeof x === "object" && (x as BpeTables).units instanceof Uint16Array;
}

/** A loaded tokenizer with Gemma's special ids resolved once. Build it with `loadTokenizer`. */
export class GemmaTokenizer {
  /** Number of ids (model vocab + added tokens): 256000 for Gemma 1/2. */
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** `<end_of_turn>` (107 for Gemma 1/2), a second stop token for chat; undefined if absent. */
  readonly endOfTurnId: number | undefined;
  readonly bosToken: string;
  readonly eosToken: string;
  /** The checkpoint's Jinja chat template, if it ships one (render it with `renderChat`). */
  readonly chatTemplate: string | undefined;
  /**
   * Which implementation runs: "bpe", our tables (bpe.ts), or "library", `@huggingface/tokenizers`
   * (for a tokenizer.json the tables don't cover).
   */
  readonly implementation: "bpe" | "library";
  readonly #tok: TokenizerImplementation;
  readonly #cleanUpSpaces: boolean;

  /**
   * @param tokenizerJson parsed `tokenizer.json`, or the tables `buildBpeTables` made from one
   * @param config parsed `tokenizer_config.json` (`{}` when the checkpoint has none)
   * @throws TokenizerError when the JSON is not a tokenizer or lacks bos/eos tokens
   */
  constructor(tokenizerJson: unknown, config: TokenizerConfig = {}) {
    if (isBpeTables(tokenizerJson)) {
      const why = unsupportedConfig(config);
      if (why) throw new TokenizerError(`BPE tables cannot honour tokenizer_config's ${why}`);
      this.#tok = new BpeTokenizer(tokenizerJson, config);
    } else {
      const json = tokenizerJson as { model?: unknown };
      if (!json || typeof json !== "object" || !json.model || typeof json.model !== "object") {
        throw new TokenizerError(`not a tokenizer.json (no "model" object)`);
      }
      const tables = buildBpeTables(json, config);
      this.#tok = typeof tables === "string"
        ? libraryTokenizer(json, config)
        : new BpeTokenizer(tables, config);
    }
    this.implementation = this.#tok instanceof BpeTokenizer ? "bpe" : "library";
    this.vocabSize = this.#tok.vocabSize;
    this.bosToken = configToken(config, "bos_token", "<bos>");
    this.eosToken = configToken(config, "eos_token", "<eos>");
    const need = (token: string, what: string): number => {
      const id = this.#tok.tokenToId(token);
      if (id === undefined) {
        throw new TokenizerError(`${what} token "${token}" is not in the vocab`);
      }
      return id;
    };
    this.bosId = need(this.bosToken, "bos");
    this.eosId = need(this.eosToken, "eos");
    // No pad token is harmless (we never pad in generation); fall back to eos as HF users do.
    this.padId = this.#tok.tokenToId(configToken(config, "pad_token", "<pad>")) ?? this.eosId;
    this.endOfTurnId = this.#tok.tokenToId("<end_of_turn>");
    this.chatTemplate = configChatTemplate(config);
    this.#cleanUpSpaces = config.clean_up_tokenization_spaces === true;
  }

  /**
   * Text → ids. Special tokens written in the text (`<start_of_turn>`, `<end_of_turn>`, `<bos>`)
   * map to their ids, as in HF. With `addBos` (default) the result starts with exactly one bos.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = this.#tok.encode(text);
    if ((options.addBos ?? true) && ids[0] !== this.bosId) ids.unshift(this.bosId);
    return ids;
  }

  /** Ids → text. Ids outside the vocab decode as the unk token (the library's behaviour). */
  decode(ids: number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return "";
    return this.#tok.decode(ids, options.skipSpecial ?? false, this.#cleanUpSpaces);
  }

  tokenToId(token: string): number | undefined {
    return this.#tok.tokenToId(token);
  }

  /** The vocab string of an id (e.g. "▁world", "<0xE2>"), undefined when out of range. */
  idToToken(id: number): string | undefined {
    return this.#tok.idToToken(id);
  }
}

/** Reads a JSON file; undefined when missing and `optional`, else a one-line TokenizerError. */
async function readJson(path: string, optional: boolean): Promise<unknown> {
  const bytes = await readBytes(path, optional);
  return bytes && parseJson(path, bytes);
}

/** A file's bytes; undefined when missing and `optional`, else a one-line TokenizerError. */
async function readBytes(path: string, optional: boolean): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (optional && err instanceof Deno.errors.NotFound) return undefined;
    const why = err instanceof Deno.errors.NotFound ? "file not found" : (err as Error).message;
    throw new TokenizerError(`Cannot load "${path}": ${why}`);
  }
}

function parseJson(path: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new TokenizerError(`Cannot load "${path}": not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Loads `<dir>/tokenizer.json` and, if present, `<dir>/tokenizer_config.json`. A chat template
 * missing from the config is also looked for in `<dir>/chat_template.jinja` or
 * `<dir>/chat_template.json` (where newer HF repos keep it).
 *
 * The first load of a tokenizer.json parses it (≈0.3 s for Gemma's 17 MB) and builds our BPE
 * tables (≈0.3 s), then saves them in the binary cache (bpe_cache.ts, `options.cacheDir`); later
 * loads of the same file read the cache instead (≈35 ms here; ≈55 ms for a copy of the file
 * elsewhere, which is hashed whole first). A tokenizer.json the tables don't cover goes to
 * `@huggingface/tokenizers` (≈1.0–1.5 s every time).
 */
export async function loadTokenizer(
  dir: string,
  options: LoadTokenizerOptions = {},
): Promise<GemmaTokenizer> {
  const tokenizerPath = options.tokenizerPath ?? `${dir}/tokenizer.json`;
  const configPath = options.configPath ?? `${dir}/tokenizer_config.json`;
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const stamp = cacheDir ? fileStamp(tokenizerPath) : Promise.resolve(undefined);
  const cached = stamp.then((s) => s ? readCachedTables(cacheDir!, tokenizerPath, s) : undefined);
  const [rawConfig, tables] = await Promise.all([
    readJson(configPath, options.configPath === undefined),
    cached,
  ]);
  if (rawConfig !== undefined && (typeof rawConfig !== "object" || Array.isArray(rawConfig))) {
    throw new TokenizerError(`Cannot load "${configPath}": expected a JSON object`);
  }
  const config = { ...(rawConfig as TokenizerConfig | undefined) };
  if (configChatTemplate(config) === undefined) {
    const jinja = await Deno.readTextFile(`${dir}/chat_template.jinja`).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw new TokenizerError(`Cannot load "${dir}/chat_template.jinja": ${err.message}`);
    });
    const side = jinja ?? (await readJson(`${dir}/chat_template.json`, true));
    const t = typeof side === "string"
      ? side
      : (side as TokenizerConfig | undefined)?.chat_template;
    if (t !== undefined) config.chat_template = t;
  }
  let source: unknown = tables && !unsupportedConfig(config) ? tables : undefined;
  if (!source) {
    // The mtime is taken before reading, so a file changed meanwhile never looks unchanged.
    const mtime = cacheDir ? await mtimeOf(tokenizerPath) : null;
    const bytes = (await readBytes(tokenizerPath, false))!;
    const json = parseJson(tokenizerPath, bytes);
    const built = buildBpeTables(json, config);
    source = typeof built === "string" ? json : built;
    if (cacheDir && typeof built !== "string") {
      await writeCachedTables(cacheDir, cacheKey(bytes, mtime), built);
    }
  }
  try {
    return new GemmaTokenizer(source, config);
  } catch (err) {
    if (err instanceof TokenizerError) {
      throw new TokenizerError(`Cannot load "${tokenizerPath}": ${err.message}`);
    }
    throw err;
  }
}

async function mtimeOf(path: string): Promise<number | null> {
  return await Deno.stat(path).then((s) => s.mtime?.getTime() ?? null, () => null);
}

const REPLACEMENT_CHAR = "\uFFFD";

/**
 * Turns a stream of ids into a stream of text, for printing tokens as they are generated.
 *
 * Decoding one id at a time is wrong in two ways: a character spelled as several byte-fallback
 * tokens decodes to U+FFFD until its last byte arrives, and decoders that strip a leading space
 * would strip it from every token. So we keep a small window of ids, `#ids`, whose first
 * `#readOffset` ids have already been printed (kept as left context), decode the window with and
 * without the new ids, and print the difference, holding it back while it ends in U+FFFD (an
 * unfinished character). Once printed, the window slides forward to start at the old read offset,
 * so each push decodes only a few ids (TGI's prefix/read-offset scheme).
 *
 * Invariant (tested): the pushes' outputs + `flush()` equal `tokenizer.decode(allIds, options)`.
 */
export class StreamingDecoder {
  readonly #tokenizer: GemmaTokenizer;
  readonly #options: DecodeOptions;
  #ids: number[] = [];
  #readOffset = 0;

  constructor(tokenizer: GemmaTokenizer, options: DecodeOptions = {}) {
    this.#tokenizer = tokenizer;
    this.#options = { ...options };
  }

  /** Adds one id; returns the text it completes (often "", e.g. mid-character or a skipped special). */
  push(id: number): string {
    this.#ids.push(id);
    const printed = this.#tokenizer.decode(this.#ids.slice(0, this.#readOffset), this.#options);
    const text = this.#tokenizer.decode(this.#ids, this.#options);
    if (text.length <= printed.length || text.endsWith(REPLACEMENT_CHAR)) return "";
    // The window only grows at the end, so `printed` is a prefix of `text` (decoding is
    // concatenative at complete-character boundaries, which is where we last cut).
    this.#ids = this.#ids.slice(this.#readOffset);
    this.#readOffset = this.#ids.length;
    return text.slice(printed.length);
  }

  /** Returns whatever is held back (an unfinished character prints as U+FFFD) and resets. */
  flush(): string {
    const printed = this.#tokenizer.decode(this.#ids.slice(0, this.#readOffset), this.#options);
    const text = this.#tokenizer.decode(this.#ids, this.#options);
    this.#ids = [];
    this.#readOffset = 0;
    return text.slice(printed.length);
  }
}
