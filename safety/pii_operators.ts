// What to put in place of each PII hit: a type tag (`<EMAIL>`), a mask that keeps the last few
// characters, nothing at all, or a salted hash (HMAC-SHA-256 via WebCrypto, so equal values map to
// equal tags within one salt and cannot be reversed by hashing guesses without it).

import { PiiError, type PiiHit } from "./pii.ts";

export type PiiOperator =
  | { kind: "replace" }
  | { kind: "mask"; keep?: number; char?: string }
  | { kind: "redact" }
  | { kind: "hash"; salt: string; hexChars?: number };

/** `<TYPE>` */
export function replaceTag(hit: PiiHit): string {
  return `<${hit.type}>`;
}

/**
 * Replaces every letter and digit of the value by `char` (default `*`) except the last `keep`
 * (default 4) letters and digits; separators stay, so "4111-1111-1111-1111" → "****-****-****-1111".
 */
export function maskValue(value: string, keep = 4, char = "*"): string {
  const chars = [...value]; // code points, so a masked emoji or CJK character stays one character
  let alnumLeft = chars.filter((c) => /[\p{L}\p{N}]/u.test(c)).length;
  return chars.map((c) => {
    if (!/[\p{L}\p{N}]/u.test(c)) return c;
    alnumLeft -= 1;
    return alnumLeft < keep ? c : char;
  }).join("");
}

/** `<TYPE:hex>`: the first `hexChars` (default 16) hex digits of HMAC-SHA-256(salt, normalized). */
export async function hashTag(hit: PiiHit, salt: string, hexChars = 16): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(salt),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(hit.normalized)));
  const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  return `<${hit.type}:${hex.slice(0, hexChars)}>`;
}

/** The text with every hit (non-overlapping, as detectPii returns them) replaced per `operator`. */
export async function anonymize(
  text: string,
  hits: readonly PiiHit[],
  operator: PiiOperator,
): Promise<string> {
  if (operator.kind === "hash" && operator.salt === "") {
    throw new PiiError("hashing needs a salt (--salt or GEMMA_PII_SALT)");
  }
  const sorted = [...hits].sort((a, b) => a.start - b.start);
  let out = "";
  let at = 0;
  for (const hit of sorted) {
    if (hit.start < at) throw new PiiError("overlapping PII hits: resolve them first");
    out += text.slice(at, hit.start);
    switch (operator.kind) {
      case "replace":
        out += replaceTag(hit);
        break;
      case "mask":
        out += maskValue(text.slice(hit.start, hit.end), operator.keep, operator.char);
        break;
      case "redact":
        break;
      case "hash":
        out += await hashTag(hit, operator.salt, operator.hexChars);
        break;
    }
    at = hit.end;
  }
  return out + text.slice(at);
}
