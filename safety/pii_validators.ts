// Validators behind the PII detectors: each takes a candidate string a pattern found and says
// whether it is really that kind of value (check digits, issuer ranges, reserved ranges), so that
// order numbers, dates and version strings that merely look alike are not reported.

import { electronicFormatIBAN, isValidIBAN } from "ibantools";

/** Luhn (mod 10) check over a string of digits. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

interface CardScheme {
  brand: string;
  /** Inclusive ranges of leading digits (all bounds of one range have the same length). */
  prefixes: [string, string][];
  lengths: number[];
}

/**
 * Issuer identification number (IIN) ranges and lengths of the major card schemes, as the schemes
 * publish them. Order matters only for overlaps: the first scheme that matches names the brand.
 */
const CARD_SCHEMES: CardScheme[] = [
  { brand: "amex", prefixes: [["34", "34"], ["37", "37"]], lengths: [15] },
  {
    brand: "diners",
    prefixes: [["300", "305"], ["309", "309"], ["36", "36"], ["38", "39"]],
    lengths: [14, 15, 16, 17, 18, 19],
  },
  { brand: "jcb", prefixes: [["3528", "3589"]], lengths: [16, 17, 18, 19] },
  { brand: "visa", prefixes: [["4", "4"]], lengths: [13, 16, 19] },
  { brand: "mastercard", prefixes: [["51", "55"], ["2221", "2720"]], lengths: [16] },
  {
    brand: "discover",
    prefixes: [["6011", "6011"], ["644", "649"], ["65", "65"], ["622126", "622925"]],
    lengths: [16, 17, 18, 19],
  },
  { brand: "unionpay", prefixes: [["62", "62"], ["81", "81"]], lengths: [16, 17, 18, 19] },
  {
    brand: "maestro",
    prefixes: [["50", "50"], ["56", "58"], ["6304", "6304"], ["67", "67"]],
    lengths: [12, 13, 14, 15, 16, 17, 18, 19],
  },
];

/** The card brand of a digit string with a known IIN prefix and length, else undefined. */
export function cardBrand(digits: string): string | undefined {
  for (const scheme of CARD_SCHEMES) {
    if (!scheme.lengths.includes(digits.length)) continue;
    for (const [low, high] of scheme.prefixes) {
      const head = digits.slice(0, low.length);
      if (head >= low && head <= high) return scheme.brand;
    }
  }
  return undefined;
}

/** A payment card number: digits (separators removed) with a known IIN, its length and Luhn. */
export function creditCardValid(digits: string): boolean {
  return /^\d{12,19}$/.test(digits) && cardBrand(digits) !== undefined && luhnValid(digits) &&
    !/^(\d)\1+$/.test(digits);
}

/**
 * A US Social Security number (9 digits, separators removed) outside the ranges the SSA never
 * issues: area 000, 666 or 900–999, group 00, serial 0000.
 */
export function ssnValid(digits: string): boolean {
  const m = /^(\d{3})(\d{2})(\d{4})$/.exec(digits);
  if (!m) return false;
  const [, area, group, serial] = m;
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" &&
    serial !== "0000";
}

/** An IBAN (spaces allowed): the country's length and BBAN format, and the mod-97 check. */
export function ibanValid(text: string): boolean {
  const compact = electronicFormatIBAN(text);
  return compact !== null && isValidIBAN(compact);
}

/** Dotted-quad IPv4: four decimal octets 0–255 without leading zeros. */
export function ipv4Valid(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^(?:0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/**
 * IPv6 in RFC 4291 text form: eight groups of 1–4 hex digits, at most one `::` standing for one
 * or more zero groups, optionally ending in an embedded IPv4 (which counts as two groups).
 */
export function ipv6Valid(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return false;
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groupsOf = (part: string): string[] | undefined => (part === "" ? [] : part.split(":"));
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  if (!head || !tail) return false;
  const all = [...head, ...tail];
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const group = all[i];
    if (i === all.length - 1 && group.includes(".")) {
      if (!ipv4Valid(group)) return false;
      count += 2;
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(group)) {
      count += 1;
    } else {
      return false;
    }
  }
  if (halves.length === 2) return count <= 7; // "::" replaces at least one group
  return count === 8;
}

/** File extensions that are no top-level domain: "icon@2x.png" names an image, not a mailbox. */
const FILE_EXTENSIONS = new Set(["png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "pdf"]);

/**
 * An e-mail address by RFC 5321's limits: a dot-atom local part of at most 64 characters, a domain
 * of dot-separated labels (1–63 letters, digits or inner hyphens) ending in an alphabetic TLD of at
 * least two letters, at most 254 characters in all.
 */
export function emailValid(text: string): boolean {
  const at = text.lastIndexOf("@");
  if (at < 1 || text.length > 254) return false;
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  if (
    local.length > 64 ||
    !/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/.test(local)
  ) {
    return false;
  }
  const labels = domain.split(".");
  if (labels.length < 2) return false;
  const label = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  const tld = labels[labels.length - 1];
  return labels.every((l) => label.test(l)) && /^[A-Za-z]{2,63}$/.test(tld) &&
    !FILE_EXTENSIONS.has(tld.toLowerCase());
}

/**
 * Whether a string looks like a random key rather than a word or a placeholder: at least `min`
 * distinct characters, with letters and (unless `digits` is false) digits.
 */
export function looksRandom(text: string, min = 10, digits = true): boolean {
  return new Set(text).size >= min && (!digits || /\d/.test(text)) && /[A-Za-z]/.test(text);
}
