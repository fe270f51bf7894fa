/**
 * tokenizer.json → `BpeTables` (see bpe.ts), or the reason this tokenizer.json is outside what
 * bpe.ts reproduces exactly, in which case the caller keeps `@huggingface/tokenizers`.
 *
 * Supported: a BPE model (byte_fallback, fuse_unk, ignore_merges; no word suffixes or prefixes),
 * normalizers Replace (String pattern), Prepend and Sequence of those, no pre-tokenizer or a
 * Split on a String, a TemplateProcessing post-processor (inert without add_special_tokens), and
 * decoders Replace (String), ByteFallback, Fuse, Strip and Sequence of those. Gemma 1/2's
 * tokenizer.json and the one `gguf_tokenizer.ts` rebuilds from a GGUF are of this kind.
 *
 * Also required, so that working in ids gives what the library gets working in strings:
 *  - tokens and ids are one-to-one (after added tokens join the vocab, as the library does);
 *  - every merge's halves and result are tokens (so a symbol outside the vocab never merges);
 *  - the unk token, if named, is in the model vocab (the library fuses unk only then);
 *  - a `normalized` added token is unchanged by the normalizer.
 * Checks are cheap next to building the tables (≈ 0.3 s for Gemma's 580604 merges, mostly hash
 * lookups of merge halves: see findJoined).
 */
import {
  type AddedTokenSpec,
  type BpeMeta,
  type BpeTables,
  hashPair,
  hashUnits,
  MAX_MERGES,
  slotOf,
} from "./bpe.ts";
import { makeNormalizer } from "./bpe_pipeline.ts";

type Json = Record<string, unknown>;

const isObject = (x: unknown): x is Json => !!x && typeof x === "object" && !Array.isArray(x);
/** Ids index arrays, so keep them sane (the library would also allocate up to the largest). */
const isId = (x: unknown): x is number =>
  Number.isInteger(x) && (x as number) >= 0 && (x as number) < 2 ** 24;

/**
 * Builds the tables from a parsed tokenizer.json and the tokenizer_config.json it comes with;
 * returns a one-line reason instead when they are not supported (never throws on odd input).
 */
export function buildBpeTables(json: unknown, config: Json = {}): BpeTables | string {
  try {
    return build(json, config);
  } catch (err) {
    return `unexpected tokenizer.json content (${(err as Error).message})`;
  }
}

/** Why the library would treat this tokenizer_config.json in ways bpe.ts does not, if it would. */
export function unsupportedConfig(config: Json): string | undefined {
  if (config.remove_space === true) return "remove_space";
  if (config.do_lowercase_and_remove_accent) return "do_lowercase_and_remove_accent";
  const extra = config.additional_special_tokens;
  if (extra != null && !Array.isArray(extra)) return "additional_special_tokens is not a list";
}

function build(json: unknown, config: Json): BpeTables | string {
  const bad = unsupportedConfig(config);
  if (bad) return `tokenizer_config.json: ${bad}`;
  if (!isObject(json)) return "not an object";
  for (const key of ["model", "normalizer", "pre_tokenizer", "post_processor", "decoder"]) {
    if (!(key in json)) return `no "${key}"`;
  }
  const model = json.model;
  if (!isObject(model) || model.type !== "BPE") return "model type is not BPE";
  for (
    const key of ["end_of_word_suffix", "continuing_subword_suffix", "continuing_subword_prefix"]
  ) {
    if (model[key] != null && model[key] !== "") return `model.${key} is set`;
  }
  if (model.dropout != null) return "model.dropout is set";
  const why = checkNormalizer(json.normalizer) ?? checkPreTokenizer(json.pre_tokenizer) ??
    checkPostProcessor(json.post_processor) ?? checkDecoder(json.decoder);
  if (why) return why;
  const normalize = makeNormalizer(json.normalizer);
  if (!isObject(model.vocab) || !Array.isArray(model.merges)) return "no vocab or merges";
  if (!Array.isArray(json.added_tokens)) return "added_tokens is not a list";

  // Token strings by id: the vocab's, then the added tokens' (the library adds them to its
  // token ⇄ id maps). A token must keep one id, and an id name one token.
  const vocab = model.vocab;
  const tokens: (string | undefined)[] = [];
  for (const token of Object.keys(vocab)) {
    const id = vocab[token];
    if (!isId(id)) return `vocab id ${JSON.stringify(id)} is not an integer below 2^24`;
    if (tokens[id] !== undefined) return `id ${id} names two tokens`;
    tokens[id] = token;
  }
  const unkToken = model.unk_token ?? null;
  if (unkToken !== null && typeof unkToken !== "string") return "unk_token is not a string";
  if (unkToken !== null && !Object.hasOwn(vocab, unkToken)) return "unk_token is not in the vocab";
  const unkId = unkToken === null ? -1 : vocab[unkToken] as number;
  const addedTokens: AddedTokenSpec[] = [];
  const addedIds = new Map<string, number>();
  for (const t of json.added_tokens as unknown[]) {
    if (!isObject(t) || typeof t.content !== "string" || !isId(t.id)) return "odd added token";
    const special = Boolean(t.special ?? false);
    const spec: AddedTokenSpec = {
      id: t.id,
      content: t.content,
      special,
      normalized: Boolean(t.normalized ?? !special),
      lstrip: Boolean(t.lstrip ?? false),
      rstrip: Boolean(t.rstrip ?? false),
    };
    if (spec.normalized && normalize && normalize(spec.content) !== spec.content) {
      return `added token ${JSON.stringify(spec.content)} changes when normalized`;
    }
    const old = addedIds.get(spec.content) ??
      (Object.hasOwn(vocab, spec.content) ? vocab[spec.content] : undefined);
    if (old !== undefined && old !== spec.id) {
      return `added token ${JSON.stringify(spec.content)} has two ids`;
    }
    if (old === undefined && tokens[spec.id] !== undefined) return `id ${spec.id} names two tokens`;
    addedIds.set(spec.content, spec.id);
    addedTokens.push(spec);
    tokens[spec.id] = spec.content;
  }

  // Vocab strings, concatenated by id, and their hash index.
  const vocabSize = tokens.length;
  const all = tokens.join(""); // holes join as ""
  const holes: number[] = [];
  const offsets = new Int32Array(vocabSize + 1);
  for (let id = 0, o = 0; id < vocabSize; id++) {
    offsets[id] = o;
    if (tokens[id] === undefined) holes.push(id);
    else o += tokens[id]!.length;
  }
  offsets[vocabSize] = all.length;
  const units = new Uint16Array(all.length);
  let wellFormed = true; // no lone surrogates in `all` (then TextDecoder can rebuild it)
  for (let i = 0; i < all.length; i++) {
    const c = units[i] = all.charCodeAt(i);
    if ((c & 0xf800) !== 0xd800) continue;
    if (c < 0xdc00 && (all.charCodeAt(i + 1) & 0xfc00) === 0xdc00) units[++i] = all.charCodeAt(i);
    else wellFormed = false;
  }
  const vocabSlots = new Int32Array(tableSize(vocabSize - holes.length, 0.5));
  const mask = vocabSlots.length - 1;
  for (let id = 0; id < vocabSize; id++) {
    if (tokens[id] === undefined) continue;
    let p = slotOf(hashUnits(all, offsets[id], offsets[id + 1]), vocabSlots.length);
    while (vocabSlots[p] !== 0) p = (p + 1) & mask;
    vocabSlots[p] = id + 1;
  }
  const index = { units, offsets, vocabSlots };
  const merges = mergeTable(model.merges as unknown[], index);
  if (typeof merges === "string") return merges;

  const meta: BpeMeta = {
    vocabSize,
    holes,
    wellFormed,
    unkToken,
    unkId,
    byteFallback: Boolean(model.byte_fallback ?? false),
    fuseUnk: Boolean(model.fuse_unk ?? false),
    ignoreMerges: Boolean(model.ignore_merges ?? false),
    addedTokens,
    normalizer: json.normalizer,
    preTokenizer: json.pre_tokenizer,
    decoder: json.decoder,
  };
  return { meta, ...index, ...merges };
}

/** Slots for n keys: a power of two at least n / load (at most that full). */
function tableSize(n: number, load: number): number {
  let size = 16;
  while (size * load < n) size *= 2;
  return size;
}

type VocabIndex = Pick<BpeTables, "units" | "offsets" | "vocabSlots">;
type MergeTable = Pick<BpeTables, "mergeLeft" | "mergeRight" | "mergeResult" | "mergeSlots">;

/**
 * The id of the token a[a0, a1) + b[b0, b1), or -1; `ha` is hashUnits of the a part. Works on
 * code units in place: looking up 1.7 M substrings in a Map would cost ≈ 0.5 s in string hashing.
 */
function findJoined(
  index: VocabIndex,
  ha: number,
  a: string,
  a0: number,
  a1: number,
  b: string,
  b0: number,
  b1: number,
): number {
  const { units, offsets, vocabSlots: slots } = index;
  const mask = slots.length - 1;
  const la = a1 - a0, n = la + b1 - b0;
  for (let p = slotOf(hashUnits(b, b0, b1, ha), slots.length);; p = (p + 1) & mask) {
    const e = slots[p];
    if (e === 0) return -1;
    const o = offsets[e - 1];
    if (offsets[e] - o !== n) continue;
    let k = 0;
    while (k < la && units[o + k] === a.charCodeAt(a0 + k)) k++;
    while (k < n && k >= la && units[o + k] === b.charCodeAt(b0 + k - la)) k++;
    if (k === n) return e - 1;
  }
}

/**
 * Merges (`"a b"` strings, or `["a", "b"]` pairs in newer files) → id arrays by rank + hash
 * index. As in the library, a pair listed twice keeps its last rank, and entries that are not
 * a pair of strings never apply (a string is split like split(" ", 2): at its first space, the
 * right half ending at the next space).
 */
function mergeTable(list: unknown[], index: VocabIndex): MergeTable | string {
  const n = list.length;
  if (n >= MAX_MERGES) return `${n} merges (at most ${MAX_MERGES - 1})`;
  const pairs = Array.isArray(list[0]);
  const mergeLeft = new Int32Array(n).fill(-1);
  const mergeRight = new Int32Array(n).fill(-1);
  const mergeResult = new Int32Array(n).fill(-1);
  const mergeSlots = new Int32Array(tableSize(n, 2 / 3)); // Gemma: 2^20 slots, 55 % full
  const mask = mergeSlots.length - 1;
  for (let rank = 0; rank < n; rank++) {
    const m = list[rank];
    let a: string, b: string, a1: number, b0: number, b1: number;
    if (pairs) {
      if (!Array.isArray(m) || m.length !== 2) continue;
      [a, b] = m;
      if (typeof a !== "string" || typeof b !== "string") continue;
      [a1, b0, b1] = [a.length, 0, b.length];
    } else {
      if (typeof m !== "string") return `merge ${rank} is not a string`;
      a = b = m;
      a1 = m.indexOf(" ");
      if (a1 < 0) continue;
      b0 = a1 + 1;
      b1 = m.indexOf(" ", b0);
      if (b1 < 0) b1 = m.length;
    }
    const ha = hashUnits(a, 0, a1);
    const left = findJoined(index, ha, a, 0, a1, b, 0, 0);
    const right = findJoined(index, hashUnits(b, 0, 0), b, 0, 0, b, b0, b1);
    const result = findJoined(index, ha, a, 0, a1, b, b0, b1);
    if (left < 0 || right < 0 || result < 0) {
      const pair = JSON.stringify([a.slice(0, a1), b.slice(b0, b1)]);
      return `merge ${pair} is not between tokens or makes no token`;
    }
    mergeLeft[rank] = left;
    mergeRight[rank] = right;
    mergeResult[rank] = result;
    let p = slotOf(hashPair(left, right), mergeSlots.length);
    for (; mergeSlots[p] !== 0; p = (p + 1) & mask) {
      const r = mergeSlots[p] - 1;
      if (mergeLeft[r] === left && mergeRight[r] === right) break; // listed again: later rank wins
    }
    mergeSlots[p] = rank + 1;
  }
  return { mergeLeft, mergeRight, mergeResult, mergeSlots };
}

/** A String pattern (a Regex one needs the library's Oniguruma translation). */
function checkPattern(pattern: unknown, what: string): string | undefined {
  if (!isObject(pattern) || pattern.Regex !== undefined || typeof pattern.String !== "string") {
    return `${what} pattern is not a String`;
  }
}

const optional = (x: unknown, type: string) => x === undefined || x === null || typeof x === type;

function checkNormalizer(spec: unknown): string | undefined {
  if (spec === null) return;
  if (!isObject(spec)) return "odd normalizer";
  switch (spec.type) {
    case "Replace":
      return checkPattern(spec.pattern, "normalizer Replace") ??
        (optional(spec.content, "string") ? undefined : "odd normalizer Replace content");
    case "Prepend":
      return typeof spec.prepend === "string" ? undefined : "odd normalizer Prepend";
    case "Sequence":
      if (spec.normalizers != null && !Array.isArray(spec.normalizers)) return "odd Sequence";
      for (const n of (spec.normalizers ?? []) as unknown[]) {
        const why = checkNormalizer(n);
        if (why) return why;
      }
      return;
  }
  return `normalizer ${JSON.stringify(spec.type)}`;
}

function checkPreTokenizer(spec: unknown): string | undefined {
  if (spec === null) return;
  if (!isObject(spec) || spec.type !== "Split") return `pre-tokenizer ${JSON.stringify(spec)}`;
  if (spec.invert) return "inverted Split pre-tokenizer";
  if (!optional(spec.behavior, "string")) return "odd Split behavior";
  return checkPattern(spec.pattern, "Split");
}

/** Without add_special_tokens a template adds nothing: it must hold sequence "A" exactly once. */
function checkPostProcessor(spec: unknown): string | undefined {
  if (spec === null) return;
  if (!isObject(spec) || spec.type !== "TemplateProcessing" || !Array.isArray(spec.single)) {
    return `post-processor ${JSON.stringify(isObject(spec) ? spec.type : spec)}`;
  }
  let a = 0;
  for (const item of spec.single as unknown[]) {
    if (!isObject(item)) return "odd TemplateProcessing item";
    if (!("Sequence" in item)) continue;
    if ((item.Sequence as Json | null)?.id !== "A") return "TemplateProcessing with sequence B";
    a++;
  }
  return a === 1 ? undefined : "TemplateProcessing without exactly one sequence A";
}

function checkDecoder(spec: unknown): string | undefined {
  if (spec === null) return;
  if (!isObject(spec)) return "odd decoder";
  switch (spec.type) {
    case "Sequence":
      if (spec.decoders != null && !Array.isArray(spec.decoders)) return "odd Sequence";
      for (const d of (spec.decoders ?? []) as unknown[]) {
        const why = d === null ? "null decoder in a Sequence" : checkDecoder(d);
        if (why) return why;
      }
      return;
    case "Replace":
      return checkPattern(spec.pattern, "decoder Replace") ??
        (optional(spec.content, "string") ? undefined : "odd decoder Replace content");
    case "Fuse":
    case "ByteFallback":
      return;
    case "Strip":
      return optional(spec.content, "string") && optional(spec.start, "number") &&
          optional(spec.stop, "number")
        ? undefined
        : "odd decoder Strip";
  }
  return `decoder ${JSON.stringify(spec.type)}`;
}
