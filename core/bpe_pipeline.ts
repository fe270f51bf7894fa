/**
 * The parts of the tokenizer.json pipeline around the BPE model, as `@huggingface/tokenizers`
 * runs them (bpe.ts must match it id for id and character for character): the normalizer and
 * pre-tokenizer kinds bpe_build.ts accepts, the added-token splitter with lstrip/rstrip, the
 * decoder chain, and clean_up_tokenization. Where the library's code is lenient or odd, so is
 * this (each such place says so); specs are checked by bpe_build.ts before they get here.
 */
import type { AddedTokenSpec } from "./bpe.ts";

/** The library's String patterns: the literal, regex-escaped, matched globally by code point. */
export function stringPattern(literal: string, invert = true): RegExp {
  const escaped = literal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(invert ? escaped : `(${escaped})`, "gu");
}

type Json = Record<string, unknown>;

/** The normalizer as a function (specs checked by bpe_build.ts: Replace, Prepend, Sequence). */
export function makeNormalizer(spec: unknown): ((s: string) => string) | null {
  if (spec === null) return null;
  const c = spec as Json;
  switch (c.type) {
    case "Replace": {
      // A RegExp, not the literal: `$&` and friends in `content` expand, as in the library.
      const pattern = stringPattern((c.pattern as Json).String as string);
      const content = (c.content ?? "") as string;
      return (s) => s.replaceAll(pattern, content);
    }
    case "Prepend": {
      const prepend = c.prepend as string;
      return (s) => prepend + s;
    }
    case "Sequence": {
      const parts = ((c.normalizers ?? []) as unknown[]).map(makeNormalizer);
      return (s) => parts.reduce((t, f) => f ? f(t) : t, s);
    }
  }
  throw new Error(`unsupported normalizer ${JSON.stringify(c.type)}`);
}

/**
 * The pre-tokenizer as a function (null, or Split on a String, not inverted). Like the library,
 * Split honours only the behavior "Removed"; every other one isolates the matches.
 */
export function makePreTokenizer(spec: unknown): ((s: string) => string[]) | null {
  if (spec === null) return null;
  const c = spec as Json;
  if (c.type !== "Split") throw new Error(`unsupported pre-tokenizer ${JSON.stringify(c.type)}`);
  const pattern = stringPattern(
    (c.pattern as Json).String as string,
    (c.invert ?? true) as boolean,
  );
  if ((c.behavior as string | undefined)?.toLowerCase() === "removed") {
    return (s) => s.split(pattern).filter((x) => x);
  }
  return (s) => {
    // The pieces between matches and the matches, empty ones left out.
    const out: string[] = [];
    let prev = 0;
    for (const m of s.matchAll(pattern)) {
      if (prev < m.index) out.push(s.slice(prev, m.index));
      if (m[0].length > 0) out.push(m[0]);
      prev = m.index + m[0].length;
    }
    if (prev < s.length) out.push(s.slice(prev));
    return out;
  };
}

/** The decoder chain as a function over token strings (null: tokens joined with " "). */
export function makeDecoder(spec: unknown): ((tokens: string[]) => string[]) | null {
  if (spec === null) return null;
  const c = spec as Json;
  switch (c.type) {
    case "Sequence": {
      const parts = ((c.decoders ?? []) as unknown[]).map((d) => makeDecoder(d)!);
      return (tokens) => parts.reduce((t, f) => f(t), tokens);
    }
    case "Replace": {
      const pattern = stringPattern((c.pattern as Json).String as string);
      const content = (c.content ?? "") as string;
      return (tokens) => tokens.map((t) => t.replaceAll(pattern, content));
    }
    case "Fuse":
      return (tokens) => [tokens.join("")];
    case "ByteFallback":
      return byteFallbackDecoder;
    case "Strip": {
      const content = (c.content ?? "") as string;
      const start = (c.start ?? 0) as number;
      const stop = (c.stop ?? 0) as number;
      return (tokens) => tokens.map((t) => stripToken(t, content, start, stop));
    }
  }
  throw new Error(`unsupported decoder ${JSON.stringify(c.type)}`);
}

const utf8 = new TextDecoder();

/**
 * Runs of `<0xNN>` tokens become the text their bytes spell (invalid UTF-8 → U+FFFD). The byte is
 * read with parseInt like the library does, leniencies included (`<0xA>>` is byte 10).
 */
function byteFallbackDecoder(tokens: string[]): string[] {
  const out: string[] = [];
  let bytes: number[] = [];
  for (const t of tokens) {
    let byte = NaN;
    if (t.length === 6 && t.startsWith("<0x") && t.endsWith(">")) {
      byte = parseInt(t.slice(3, 5), 16);
    }
    if (!isNaN(byte)) {
      bytes.push(byte);
      continue;
    }
    if (bytes.length > 0) out.push(utf8.decode(Uint8Array.from(bytes)));
    bytes = [];
    out.push(t);
  }
  if (bytes.length > 0) out.push(utf8.decode(Uint8Array.from(bytes)));
  return out;
}

/** Drops up to `start` leading and `stop` trailing copies of the one-character `content`. */
function stripToken(t: string, content: string, start: number, stop: number): string {
  let from = 0;
  for (let i = 0; i < start && t[i] === content; i++) from = i + 1;
  let to = t.length;
  for (let i = 0; i < stop && t[t.length - i - 1] === content; i++) to = t.length - i - 1;
  return t.slice(from, to);
}

/**
 * Splits text at the given words: scanning left to right, the longest word starting at each
 * position is cut out (a code-unit trie, like the library's DictionarySplitter).
 */
export class Splitter {
  readonly #root = new Map<number, TrieNode>();
  readonly #empty: boolean;

  constructor(words: string[]) {
    this.#empty = words.length === 0;
    for (const w of words) {
      if (w.length === 0) continue; // the library's trie never reports an empty match
      let next = this.#root;
      let node: TrieNode | undefined;
      for (let i = 0; i < w.length; i++) {
        const c = w.charCodeAt(i);
        node = next.get(c);
        if (!node) next.set(c, node = { next: new Map(), end: undefined });
        next = node.next;
      }
      node!.end = w;
    }
  }

  split(text: string): string[] {
    if (this.#empty) return text.length > 0 ? [text] : [];
    const out: string[] = [];
    let start = 0;
    for (let i = 0; i < text.length;) {
      let match: string | undefined;
      let node = this.#root.get(text.charCodeAt(i));
      for (let j = i + 1; node; j++) {
        if (node.end) match = node.end;
        node = j < text.length ? node.next.get(text.charCodeAt(j)) : undefined;
      }
      if (!match) {
        i++;
        continue;
      }
      if (i > start) out.push(text.slice(start, i));
      out.push(match);
      i += match.length;
      start = i;
    }
    if (start < text.length) out.push(text.slice(start));
    return out;
  }
}

interface TrieNode {
  next: Map<number, TrieNode>;
  end: string | undefined;
}

/** The library's lstrip/rstrip: an added token trims whitespace off its neighbouring pieces. */
export function stripAround(
  pieces: string[],
  added: Map<string, AddedTokenSpec>,
  any: boolean,
): void {
  if (!any) return;
  for (let i = 0; i < pieces.length; i++) {
    const t = added.get(pieces[i]);
    if (!t) continue;
    if (t.lstrip && i > 0) pieces[i - 1] = pieces[i - 1].trimEnd();
    if (t.rstrip && i < pieces.length - 1) pieces[i + 1] = pieces[i + 1].trimStart();
  }
}

/** The library's clean_up_tokenization. */
export function cleanUpTokenization(text: string): string {
  return text.replace(/ \./g, ".").replace(/ \?/g, "?").replace(/ !/g, "!").replace(/ ,/g, ",")
    .replace(/ ' /g, "'").replace(/ n't/g, "n't").replace(/ 'm/g, "'m").replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve").replace(/ 're/g, "'re");
}
