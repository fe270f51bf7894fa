/**
 * Gemma's tokenizer: a thin, typed wrapper over `@huggingface/tokenizers` (a pure-JS port of HF's
 * `tokenizers`) that reads a checkpoint's `tokenizer.json` + `tokenizer_config.json` and fixes the
 * few places where the raw library API is awkward or wrong for generation:
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

/** Any failure to load or use a tokenizer; messages are one line and name the file. */
export class TokenizerError extends Error {
  override name = "TokenizerError";
}

export interface LoadTokenizerOptions {
  /** Read the tokenizer from this file instead of `<dir>/tokenizer.json`. */
  tokenizerPath?: string;
  /** Read the config from this file instead of `<dir>/tokenizer_config.json` (must exist then). */
  configPath?: string;
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
function configChatTemplate(config: TokenizerConfig): string | undefined {
  const t = config.chat_template;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t.find((x) => x?.name === "default") ?? t[0];
    if (typeof named?.template === "string") return named.template;
  }
  return undefined;
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
  readonly #tok: Tokenizer;
  readonly #cleanUpSpaces: boolean;

  /**
   * @param tokenizerJson parsed `tokenizer.json`
   * @param config parsed `tokenizer_config.json` (`{}` when the checkpoint has none)
   * @throws TokenizerError when the JSON is not a tokenizer or lacks bos/eos tokens
   */
  constructor(tokenizerJson: unknown, config: TokenizerConfig = {}) {
    const json = tokenizerJson as { model?: { vocab?: unknown }; added_tokens?: unknown };
    if (!json || typeof json !== "object" || !json.model || typeof json.model !== "object") {
      throw new TokenizerError(`not a tokenizer.json (no "model" object)`);
    }
    try {
      this.#tok = new Tokenizer(json, { ...config });
    } catch (err) {
      throw new TokenizerError(`unsupported tokenizer: ${(err as Error).message}`);
    }
    // The library's model.vocab is an id → token array that already includes added tokens.
    this.vocabSize = this.#tok.model?.vocab.length ?? 0;
    this.bosToken = configToken(config, "bos_token", "<bos>");
    this.eosToken = configToken(config, "eos_token", "<eos>");
    const need = (token: string, what: string): number => {
      const id = this.#tok.token_to_id(token);
      if (id === undefined) {
        throw new TokenizerError(`${what} token "${token}" is not in the vocab`);
      }
      return id;
    };
    this.bosId = need(this.bosToken, "bos");
    this.eosId = need(this.eosToken, "eos");
    // No pad token is harmless (we never pad in generation); fall back to eos as HF users do.
    this.padId = this.#tok.token_to_id(configToken(config, "pad_token", "<pad>")) ?? this.eosId;
    this.endOfTurnId = this.#tok.token_to_id("<end_of_turn>");
    this.chatTemplate = configChatTemplate(config);
    this.#cleanUpSpaces = config.clean_up_tokenization_spaces === true;
  }

  /**
   * Text → ids. Special tokens written in the text (`<start_of_turn>`, `<end_of_turn>`, `<bos>`)
   * map to their ids, as in HF. With `addBos` (default) the result starts with exactly one bos.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = this.#tok.encode(text, { add_special_tokens: false }).ids;
    if ((options.addBos ?? true) && ids[0] !== this.bosId) ids.unshift(this.bosId);
    return ids;
  }

  /** Ids → text. Ids outside the vocab decode as the unk token (the library's behaviour). */
  decode(ids: number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return "";
    return this.#tok.decode(ids, {
      skip_special_tokens: options.skipSpecial ?? false,
      clean_up_tokenization_spaces: this.#cleanUpSpaces,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.#tok.token_to_id(token);
  }

  /** The vocab string of an id (e.g. "▁world", "<0xE2>"), undefined when out of range. */
  idToToken(id: number): string | undefined {
    return this.#tok.id_to_token(id);
  }
}

/** Reads a JSON file; undefined when missing and `optional`, else a one-line TokenizerError. */
async function readJson(path: string, optional: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (optional && err instanceof Deno.errors.NotFound) return undefined;
    const why = err instanceof Deno.errors.NotFound ? "file not found" : (err as Error).message;
    throw new TokenizerError(`Cannot load "${path}": ${why}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TokenizerError(`Cannot load "${path}": not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Loads `<dir>/tokenizer.json` and, if present, `<dir>/tokenizer_config.json`. A chat template
 * missing from the config is also looked for in `<dir>/chat_template.jinja` or
 * `<dir>/chat_template.json` (where newer HF repos keep it).
 *
 * Slow for Gemma's 256000-token vocab (≈1.0–1.5 s here: ≈0.3 s to read and parse the 17 MB JSON,
 * ≈0.8–1.1 s in the library building its 580k-entry merge table), so load it once and share it.
 */
export async function loadTokenizer(
  dir: string,
  options: LoadTokenizerOptions = {},
): Promise<GemmaTokenizer> {
  const tokenizerPath = options.tokenizerPath ?? `${dir}/tokenizer.json`;
  const configPath = options.configPath ?? `${dir}/tokenizer_config.json`;
  const [json, rawConfig] = await Promise.all([
    readJson(tokenizerPath, false),
    readJson(configPath, options.configPath === undefined),
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
  try {
    return new GemmaTokenizer(json, config);
  } catch (err) {
    if (err instanceof TokenizerError) {
      throw new TokenizerError(`Cannot load "${tokenizerPath}": ${err.message}`);
    }
    throw err;
  }
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
