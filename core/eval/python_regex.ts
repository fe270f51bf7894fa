// Python `re` patterns, as lm-eval's task files write them, run by JavaScript's RegExp with
// Python's meaning where the two differ for the patterns tasks use:
// - inline flags at the start, `(?s)`, `(?i)`, `(?m)`, `(?x)` excepted, become RegExp flags;
// - `$` outside a character class matches at the end or before a final "\n" (Python's rule
//   without re.MULTILINE; JavaScript's `$` matches only at the very end);
// - `\Z` and `\A` are the end and the start of the text;
// - patterns run in Unicode mode ("u"), and `\d`, `\w`, `\s` (and, outside classes, `\D`, `\W`,
//   `\S`) take Python's Unicode meaning (decimal digits, letters and numbers and "_", Python's
//   whitespace); `\b` keeps JavaScript's ASCII word boundary;
// - braces that are not a quantifier, and a lone "]", are literals.
// `findall` and `sub` then follow Python's return conventions.

export class PythonRegexError extends Error {
  override name = "PythonRegexError";
}

const FLAGS: Record<string, string> = { s: "s", i: "i", m: "m" };

/** Python's str.isspace() characters, as a class body. */
const SPACES =
  "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/**
 * Python's Unicode `\d`, `\w`, `\s` and their negations: [in a class (undefined: left as
 * JavaScript's), outside one].
 */
const UNICODE_CLASSES: Record<string, [string | undefined, string]> = {
  d: ["\\p{Nd}", "\\p{Nd}"],
  D: [undefined, "\\P{Nd}"],
  w: ["\\p{L}\\p{N}_", "[\\p{L}\\p{N}_]"],
  W: [undefined, "[^\\p{L}\\p{N}_]"],
  s: [SPACES, `[${SPACES}]`],
  S: [undefined, `[^${SPACES}]`],
};

/** Compiles a Python pattern (see the header) with the global flag, for findall and sub. */
export function pythonRegex(pattern: string): RegExp {
  let flags = "gu";
  let body = pattern;
  const inline = /^\(\?([a-zA-Z]+)\)/.exec(body);
  if (inline) {
    for (const f of inline[1]) {
      if (!FLAGS[f]) throw new PythonRegexError(`unsupported inline flag (?${f}) in /${pattern}/`);
      if (!flags.includes(FLAGS[f])) flags += FLAGS[f];
    }
    body = body.slice(inline[0].length);
  }
  const multiline = flags.includes("m");
  let out = "";
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "\\") {
      const next = body[i + 1] ?? "";
      i++;
      if (UNICODE_CLASSES[next]) {
        const [inside, outside] = UNICODE_CLASSES[next];
        out += inClass ? (inside ?? c + next) : outside;
      } else if (!inClass && next === "Z") out += "$(?![\\s\\S])";
      else if (!inClass && next === "A") out += "(?<![\\s\\S])";
      // Python accepts escaped characters that unicode-mode JavaScript rejects (`\-` outside a
      // class, `\,`, `\'`): an escaped non-word character is that character.
      else if (/[^\w]/.test(next) && !/[\\^$.*+?()[\]{}|/\-]/.test(next)) out += next;
      else if (next === "-" && !inClass) out += "\\x2d";
      else out += c + next;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      out += c;
    } else if (c === "[") {
      inClass = true;
      out += c;
      if (body[i + 1] === "^") out += body[++i];
      if (body[i + 1] === "]") out += "\\" + body[++i]; // "[]" opens with a literal "]" in Python
    } else if (c === "{") {
      // A quantifier stays; any other brace is a literal in Python (an error in unicode mode).
      const quantifier = /^\{\d+(,\d*)?\}/.exec(body.slice(i));
      if (quantifier) {
        out += quantifier[0];
        i += quantifier[0].length - 1;
      } else {
        out += "\\{";
      }
    } else if (c === "}" || c === "]") {
      out += "\\" + c;
    } else if (c === "$" && !multiline) {
      out += "(?=\\n?(?![\\s\\S]))";
    } else {
      out += c;
    }
  }
  try {
    return new RegExp(out, flags);
  } catch (error) {
    throw new PythonRegexError(`cannot compile /${pattern}/: ${(error as Error).message}`);
  }
}

/**
 * Python's `re.findall`: each match's text when the pattern has no group, group 1 when it has one
 * ("" where it did not take part), else a tuple (array) of every group.
 */
export function findall(regex: RegExp, text: string): (string | string[])[] {
  const out: (string | string[])[] = [];
  for (const m of text.matchAll(regex)) {
    const groups = m.slice(1).map((g) => g ?? "");
    if (groups.length === 0) out.push(m[0]);
    else if (groups.length === 1) out.push(groups[0]);
    else out.push(groups);
  }
  return out;
}

/** Python's `re.sub(pattern, "", text)`: every match removed. */
export function removeMatches(regex: RegExp, text: string): string {
  return text.replace(regex, "");
}

/** Python's list indexing: a negative index counts from the end. */
export function pythonIndex<T>(items: T[], index: number): T {
  const at = index < 0 ? items.length + index : index;
  if (at < 0 || at >= items.length) {
    throw new RangeError(`index ${index} out of range for ${items.length} matches`);
  }
  return items[at];
}
