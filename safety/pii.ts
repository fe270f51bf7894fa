// PII detection: each detector proposes candidates with a pattern and keeps only those its validator
// accepts (pii_validators.ts), with a score that reflects how specific the evidence is; overlapping
// hits are then resolved deterministically. Phone numbers are found and validated by
// libphonenumber-js (Google's libphonenumber metadata); IBANs are checked by ibantools; the rest is
// written here.
//
// Spans are UTF-16 code-unit offsets into the input (JavaScript string indices, as `slice` takes
// them), `end` exclusive.

import { findPhoneNumbersInText, isSupportedCountry } from "libphonenumber-js/max";
import type { CountryCode } from "libphonenumber-js/max";
import {
  cardBrand,
  creditCardValid,
  emailValid,
  ibanValid,
  ipv4Valid,
  ipv6Valid,
  looksRandom,
  ssnValid,
} from "./pii_validators.ts";

export const PII_TYPES = [
  "PRIVATE_KEY",
  "URL_CREDENTIALS",
  "API_KEY",
  "EMAIL",
  "IBAN",
  "CREDIT_CARD",
  "US_SSN",
  "IP_ADDRESS",
  "PHONE",
] as const;
/** Also the order that breaks ties between overlapping hits of equal score and length. */
export type PiiType = typeof PII_TYPES[number];

export interface PiiHit {
  type: PiiType;
  /** UTF-16 offsets into the text, `end` exclusive. */
  start: number;
  end: number;
  /** 0..1: how sure the detector is (validated structure, context words). */
  score: number;
  /** The matched text. */
  text: string;
  /** A canonical form for hashing: E.164 phones, digits-only cards, lower-case e-mails … */
  normalized: string;
  /** What kind, where a type has kinds: the card brand, the key's issuer, "ipv4"/"ipv6". */
  detail?: string;
}

export class PiiError extends Error {
  override name = "PiiError";
}

export interface DetectOptions {
  /** Types to look for (default all). */
  types?: readonly PiiType[];
  /** Hits scoring below this are dropped (default 0.5). */
  minScore?: number;
  /** Countries whose national phone formats are recognized (default US, GB, DE, FR). */
  phoneRegions?: readonly string[];
}

export const DEFAULT_PHONE_REGIONS = ["US", "GB", "DE", "FR"];

/** Finds PII in `text`: non-overlapping hits, sorted by start. */
export function detectPii(text: string, options: DetectOptions = {}): PiiHit[] {
  const types = new Set(options.types ?? PII_TYPES);
  for (const t of types) {
    if (!PII_TYPES.includes(t)) throw new PiiError(`unknown PII type "${t}"`);
  }
  const minScore = options.minScore ?? 0.5;
  const candidates: PiiHit[] = [];
  for (const type of types) {
    const found = type === "PHONE"
      ? findPhones(text, options.phoneRegions ?? DEFAULT_PHONE_REGIONS)
      : DETECTORS[type](text);
    for (const hit of found) if (hit.score >= minScore) candidates.push(hit);
  }
  return resolveOverlaps(candidates);
}

/**
 * Keeps a set of non-overlapping hits: the highest score first, then the longest span, then the
 * earlier type in PII_TYPES, then the earlier start; each hit is kept unless it overlaps one kept
 * before it. The result is sorted by start.
 */
export function resolveOverlaps(hits: PiiHit[]): PiiHit[] {
  const rank = (t: PiiType) => PII_TYPES.indexOf(t);
  const ordered = [...hits].sort((a, b) =>
    b.score - a.score || (b.end - b.start) - (a.end - a.start) || rank(a.type) - rank(b.type) ||
    a.start - b.start
  );
  const kept: PiiHit[] = [];
  for (const hit of ordered) {
    if (kept.every((k) => hit.end <= k.start || hit.start >= k.end)) kept.push(hit);
  }
  return kept.sort((a, b) => a.start - b.start);
}

type Detector = (text: string) => PiiHit[];

function hit(
  type: PiiType,
  text: string,
  start: number,
  end: number,
  score: number,
  normalized: string,
  detail?: string,
): PiiHit {
  return { type, start, end, score, text: text.slice(start, end), normalized, detail };
}

/** Whether one of `words` occurs within `window` characters before `start`. */
function contextBefore(text: string, start: number, words: RegExp, window = 40): boolean {
  return words.test(text.slice(Math.max(0, start - window), start));
}

function findEmails(text: string): PiiHit[] {
  const out: PiiHit[] = [];
  // The local part starts with a letter, digit or underscore, and nothing that could belong to
  // it (or a URL's "scheme://" before it) precedes the match.
  const pattern =
    /(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~:-])[A-Za-z0-9_][A-Za-z0-9!#$%&'*+/=?^_`{|}~-]*(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+/g;
  for (const m of text.matchAll(pattern)) {
    if (!emailValid(m[0])) continue;
    out.push(hit("EMAIL", text, m.index, m.index + m[0].length, 1, m[0].toLowerCase()));
  }
  return out;
}

function findUrlCredentials(text: string): PiiHit[] {
  const out: PiiHit[] = [];
  // scheme://user:password@host… up to whitespace or a closing quote/bracket.
  const pattern =
    /\b[A-Za-z][A-Za-z0-9+.-]*:\/\/([^\s/?#@:'"<>]+):([^\s/?#@'"<>]+)@([^\s/?#'"<>]+)[^\s'"<>]*/g;
  for (const m of text.matchAll(pattern)) {
    const value = m[0].replace(/[.,;:!?)\]}]+$/, "");
    if (!/[A-Za-z0-9]/.test(m[3])) continue;
    out.push(hit("URL_CREDENTIALS", text, m.index, m.index + value.length, 1, value));
  }
  return out;
}

function findCards(text: string): PiiHit[] {
  const out: PiiHit[] = [];
  // 12–19 digits, either contiguous or in groups of 2–6 split by one space or one hyphen (the
  // same separator throughout): 4-4-4-4, Amex 4-6-5, Diners 4-4-4-2 …
  const pattern = /(?<![\d.,-])(?:\d{12,19}|\d{4}(?:([ -])\d{2,6}){2,4})(?![\d]|[.,-]\d)/g;
  for (const m of text.matchAll(pattern)) {
    const sep = m[1];
    if (sep && m[0].split(sep).length !== m[0].split(/[ -]/).length) continue;
    const digits = m[0].replace(/[ -]/g, "");
    if (!creditCardValid(digits)) continue;
    const context = contextBefore(
      text,
      m.index,
      /\b(card|visa|mastercard|amex|cc|credit|debit)\b/i,
    );
    const score = Math.min(1, (sep ? 0.9 : 0.8) + (context ? 0.1 : 0));
    out.push(
      hit("CREDIT_CARD", text, m.index, m.index + m[0].length, score, digits, cardBrand(digits)),
    );
  }
  return out;
}

function findIbans(text: string): PiiHit[] {
  const out: PiiHit[] = [];
  // Country, check digits, then BBAN characters, optionally in groups of four.
  const pattern = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,30}\b/g;
  for (const m of text.matchAll(pattern)) {
    // The pattern is greedy: shorten by whole space-separated groups until the IBAN is valid.
    const groups = m[0].split(" ");
    for (let n = groups.length; n >= 1; n--) {
      const value = groups.slice(0, n).join(" ");
      if (ibanValid(value)) {
        out.push(
          hit(
            "IBAN",
            text,
            m.index,
            m.index + value.length,
            1,
            value.replace(/ /g, ""),
            value.slice(0, 2),
          ),
        );
        break;
      }
    }
  }
  return out;
}

/** Words just before a number that make it an identifier of something else. */
const NOT_PII_CONTEXT =
  /(?:\b(?:isbn(?:-1[03])?|order|invoice|tracking|ref|reference|serial|account|acct|case|ticket|id|sku|part)\s*(?:number|no\.?|#)?|#)\s*(?:is|was|=)?\s*[:#]?\s*$/i;

const SSN_CONTEXT = /\b(ssn|ss#|social security|social sec|tax ?id|tin)\b/i;

function findSsns(text: string): PiiHit[] {
  const out: PiiHit[] = [];
  const pattern = /(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d]|-\d)/g;
  for (const m of text.matchAll(pattern)) {
    const digits = m[1] + m[3] + m[4];
    if (!ssnValid(digits)) continue;
    if (NOT_PII_CONTEXT.test(text.slice(Math.max(0, m.index - 24), m.index))) continue;
    const context = contextBefore(text, m.index, SSN_CONTEXT);
    // Nine bare digits are as often an order or account number: only with a context word.
    const base = m[2] === "-" ? 0.6 : m[2] === " " ? 0.45 : 0.3;
    const score = Math.min(1, base + (context ? 0.35 : 0));
    out.push(hit("US_SSN", text, m.index, m.index + m[0].length, score, digits));
  }
  return out;
}

/** Words before a dotted quad that make it a version, not an address. */
const VERSION_CONTEXT = /(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\bfirmware|\bsdk|\bapi)\s*$/i;

function findIps(text: string): PiiHit[] {
  const out: PiiHit[] = [];
  const v4 = /(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3})(?![\w]|\.\d)/g;
  for (const m of text.matchAll(v4)) {
    if (!ipv4Valid(m[1])) continue;
    if (VERSION_CONTEXT.test(text.slice(Math.max(0, m.index - 20), m.index))) continue;
    const context = contextBefore(
      text,
      m.index,
      /\b(ip|address|host|server|client|from|gateway)\b/i,
    );
    out.push(
      hit("IP_ADDRESS", text, m.index, m.index + m[0].length, context ? 0.95 : 0.8, m[1], "ipv4"),
    );
  }
  // Maximal runs of hex digits, colons and dots with at least two colons, not touching a word
  // character (so "std::vector" and "12:30:45" are never candidates, or fail validation).
  const v6 = /(?<![\w:.])[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?![\w:])/g;
  for (const m of text.matchAll(v6)) {
    const value = m[0].replace(/\.+$/, "");
    if (!/[0-9A-Fa-f]/.test(value) || !ipv6Valid(value)) continue;
    out.push(
      hit("IP_ADDRESS", text, m.index, m.index + value.length, 0.9, value.toLowerCase(), "ipv6"),
    );
  }
  return out;
}

/**
 * API keys recognized by their issuers' documented prefixes and lengths. The list (also in the
 * README): AWS access key ids (AKIA/ASIA + 16), GitHub tokens (ghp_/gho_/ghu_/ghs_/ghr_ + 36, and
 * fine-grained github_pat_), Slack tokens (xoxb-/xoxp-/xoxa-/xoxr-/xoxs-), Stripe live keys
 * (sk_live_/rk_live_), Google API keys (AIza + 35) and OpenAI-style keys (sk-, sk-proj-, …).
 */
const API_KEYS: { issuer: string; pattern: RegExp; score: number; digits?: false }[] = [
  // AWS key ids are base32 ([A-Z2-7]): they may have no digit.
  { issuer: "aws", pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, score: 0.95, digits: false },
  { issuer: "github", pattern: /\bgh[pousr]_[A-Za-z0-9]{36}\b/g, score: 1 },
  { issuer: "github", pattern: /\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b/g, score: 1 },
  { issuer: "slack", pattern: /\bxox[baprs]-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+\b/g, score: 0.95 },
  { issuer: "stripe", pattern: /\b[sr]k_live_[A-Za-z0-9]{24,99}\b/g, score: 1 },
  { issuer: "google", pattern: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g, score: 0.95 },
  {
    issuer: "openai",
    pattern: /(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,200}(?![\w-])/g,
    score: 0.9,
  },
];

function findApiKeys(text: string): PiiHit[] {
  const out: PiiHit[] = [];
  for (const { issuer, pattern, score, digits } of API_KEYS) {
    for (const m of text.matchAll(pattern)) {
      if (!looksRandom(m[0], 8, digits ?? true)) continue;
      out.push(hit("API_KEY", text, m.index, m.index + m[0].length, score, m[0], issuer));
    }
  }
  return out;
}

function findPrivateKeys(text: string): PiiHit[] {
  const out: PiiHit[] = [];
  const pattern =
    /-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----[\s\S]*?-----END \1-----/g;
  for (const m of text.matchAll(pattern)) {
    out.push(
      hit("PRIVATE_KEY", text, m.index, m.index + m[0].length, 1, m[0], m[1].toLowerCase()),
    );
  }
  return out;
}

const PHONE_CONTEXT =
  /\b(phone|tel|telephone|call|mobile|cell|fax|whatsapp|sms|text me|ring|reach me|contact)\b/i;

/** Lengths of the runs of digits in a written number: "(415) 555-2671" → [3, 3, 4]. */
function digitGroups(text: string): number[] {
  return (text.match(/\d+/g) ?? []).map((g) => g.length);
}
function findPhones(text: string, regions: readonly string[]): PiiHit[] {
  const out: PiiHit[] = [];
  const seen = new Set<string>();
  for (const region of regions) {
    if (!isSupportedCountry(region)) {
      throw new PiiError(`unknown phone region "${region}" (use ISO 3166 codes such as US, GB)`);
    }
    // The default leniency, "VALID": numbers libphonenumber's metadata says exist.
    const matches = findPhoneNumbersInText(text, { defaultCountry: region as CountryCode });
    for (const m of matches) {
      const key = `${m.startsAt}:${m.endsAt}`;
      if (seen.has(key)) continue; // found by an earlier region and accepted
      const raw = text.slice(m.startsAt, m.endsAt);
      const before = text.slice(Math.max(0, m.startsAt - 20), m.startsAt);
      if (NOT_PII_CONTEXT.test(before)) continue;
      if (/^\d{4}-\d{2}-\d{2}$/.test(raw)) continue; // a date
      const international = raw.startsWith("+") || raw.startsWith("00");
      const groups = digitGroups(raw);
      // A national number must be written as one run of digits or grouped as the country writes
      // it ("(415) 555-2671", "020 7946 0958"), not 3-2-4 (an SSN) or 5-4 (a ZIP+4).
      if (
        !international && groups.length > 1 &&
        groups.join(",") !== digitGroups(m.number.formatNational()).join(",")
      ) continue;
      const context = contextBefore(text, m.startsAt, PHONE_CONTEXT, 25);
      let score = international ? 0.9 : groups.length > 1 ? 0.75 : 0.4;
      if (context) score = Math.min(1, score + 0.2);
      seen.add(key);
      out.push(
        hit("PHONE", text, m.startsAt, m.endsAt, score, m.number.number, m.number.country),
      );
    }
  }
  return out;
}

const DETECTORS: Record<Exclude<PiiType, "PHONE">, Detector> = {
  PRIVATE_KEY: findPrivateKeys,
  URL_CREDENTIALS: findUrlCredentials,
  API_KEY: findApiKeys,
  EMAIL: findEmails,
  IBAN: findIbans,
  CREDIT_CARD: findCards,
  US_SSN: findSsns,
  IP_ADDRESS: findIps,
};

/** Parses a comma-separated list of types (case-insensitive); a one-line error names a bad one. */
export function parsePiiTypes(list: string): PiiType[] {
  const out: PiiType[] = [];
  for (const raw of list.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const name = raw.toUpperCase().replace(/-/g, "_") as PiiType;
    if (!PII_TYPES.includes(name)) {
      throw new PiiError(`unknown PII type "${raw}" (known: ${PII_TYPES.join(", ")})`);
    }
    out.push(name);
  }
  if (out.length === 0) throw new PiiError("--types names no PII type");
  return out;
}
