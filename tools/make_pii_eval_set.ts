// Writes tests/data/safety/pii_labelled.jsonl: realistic lines with PII planted at known offsets
// ({"text", "spans": [{start, end, type}]}, UTF-16 offsets, end exclusive) and hard negatives
// (order numbers, ISBNs, dates, versions, invalid Luhn numbers, reserved SSNs, IP-like versions,
// times, MAC addresses …) that carry no span. Values are built from their definitions (check
// digits computed here, not by the detectors), from one seeded stream, so the file is reproducible:
//   ./deno run -A tools/make_pii_eval_set.ts

import { seededRandom } from "../kernels/test_util.ts";

const OUT = new URL("../tests/data/safety/pii_labelled.jsonl", import.meta.url);
const random = seededRandom(2026);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join("");
const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const chars = (n: number, alphabet = ALNUM) =>
  Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");

interface Span {
  start: number;
  end: number;
  type: string;
}

/** A line built from literal pieces and labelled values. */
function line(...parts: (string | [string, string])[]): { text: string; spans: Span[] } {
  let text = "";
  const spans: Span[] = [];
  for (const part of parts) {
    if (typeof part === "string") {
      text += part;
    } else {
      spans.push({ start: text.length, end: text.length + part[1].length, type: part[0] });
      text += part[1];
    }
  }
  return { text, spans };
}

// --- values -------------------------------------------------------------------------------

const FIRST = ["john", "maria", "wei", "fatima", "lars", "aiko", "carlos", "priya", "olga", "sam"];
const LAST = ["doe", "garcia", "zhang", "khan", "nilsen", "tanaka", "silva", "patel", "ivanova"];
const DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "uni-example.edu"];

function email(): string {
  const f = pick(FIRST), l = pick(LAST);
  const local = pick([`${f}.${l}`, `${f[0]}${l}`, `${f}_${l}${int(1, 99)}`, `${f}+news`, `${l}`]);
  const e = `${local}@${pick(DOMAINS)}`;
  return random() < 0.15 ? e.toUpperCase() : e;
}

function luhnDigit(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

function cardDigits(valid = true): string {
  const [prefix, length] = pick(
    [
      ["4", 16],
      ["51", 16],
      ["55", 16],
      ["2221", 16],
      ["34", 15],
      ["37", 15],
      ["6011", 16],
      ["3530", 16],
    ] as const,
  );
  const body = prefix + digits(length - prefix.length - 1);
  const check = luhnDigit(body);
  return body + (valid ? check : String((Number(check) + int(1, 9)) % 10));
}

function formatCard(d: string): string {
  const style = pick(["space", "dash", "plain"]);
  if (style === "plain") return d;
  const sep = style === "space" ? " " : "-";
  if (d.length === 15) return [d.slice(0, 4), d.slice(4, 10), d.slice(10)].join(sep);
  return d.match(/.{1,4}/g)!.join(sep);
}

function mod97(numeric: string): number {
  let r = 0;
  for (const ch of numeric) r = (r * 10 + Number(ch)) % 97;
  return r;
}

function ibanFor(country: string, bban: string, valid = true): string {
  const rearranged = (bban + country + "00").replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let check = 98 - mod97(rearranged);
  if (!valid) check = (check + int(1, 50)) % 97 + 2;
  return country + String(check).padStart(2, "0") + bban;
}

function iban(valid = true): string {
  const country = pick(["GB", "DE", "CH", "AT", "IE", "NL"]);
  const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const bban = {
    GB: () => chars(4, upper) + digits(14),
    IE: () => chars(4, upper) + digits(14),
    DE: () => digits(18),
    AT: () => digits(16),
    CH: () => digits(5) + chars(12, "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"),
    NL: () => chars(4, upper) + digits(10),
  }[country]!();
  const value = ibanFor(country, bban, valid);
  return random() < 0.5 ? value.match(/.{1,4}/g)!.join(" ") : value;
}

function ssn(): string {
  let area = int(1, 899);
  if (area === 666) area = 665;
  const d = String(area).padStart(3, "0") + String(int(1, 99)).padStart(2, "0") +
    String(int(1, 9999)).padStart(4, "0");
  return `${d.slice(0, 3)}-${d.slice(3, 5)}-${d.slice(5)}`;
}

function ipv4(): string {
  return pick([
    () => `192.168.${int(0, 255)}.${int(1, 254)}`,
    () => `10.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`,
    () => `${int(11, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`,
    () => `172.${int(16, 31)}.${int(0, 255)}.${int(1, 254)}`,
  ])();
}

function ipv6(): string {
  const group = () => int(0, 0xffff).toString(16);
  return pick([
    () => Array.from({ length: 8 }, group).join(":"),
    () => `2001:db8::${group()}:${group()}`,
    () => `fe80::${group()}:${group()}:${group()}:${group()}`,
    () => `2001:db8:${group()}::${group()}`,
    () => `::ffff:192.0.2.${int(1, 254)}`,
  ])();
}

function phone(): string {
  return pick([
    () =>
      `(${pick(["212", "415", "312", "617", "206", "303", "512"])}) ${int(201, 989)}-${digits(4)}`,
    () => `${pick(["212", "415", "312", "617"])}-${int(201, 989)}-${digits(4)}`,
    () => `+1 ${pick(["202", "646", "718", "213"])} ${int(201, 989)} ${digits(4)}`,
    () => `+44 20 7946 0${digits(3)}`,
    () => `020 7946 0${digits(3)}`,
    () => `+44 7${pick(["400", "712", "911", "805"])} ${int(100, 999)}${digits(3)}`,
    () => `07${pick(["555", "961", "712"])} ${int(100, 999)}${digits(3)}`,
    () => `+49 30 ${int(2, 9)}${digits(7)}`,
    () => `030 ${int(2, 9)}${digits(7)}`,
    () => `+33 1 ${int(40, 59)} ${digits(2)} ${digits(2)} ${digits(2)}`,
    () => `01 ${int(40, 59)} ${digits(2)} ${digits(2)} ${digits(2)}`,
    () => `+81 3-${digits(4)}-${digits(4)}`,
    () => `+91 98${digits(3)} ${digits(5)}`,
    () => `+61 2 9${digits(3)} ${digits(4)}`,
  ])();
}

function urlCredentials(): string {
  const scheme = pick(["https", "postgres", "mysql", "ftp", "redis", "amqp"]);
  const host = pick(["db.example.com", "10.0.0.5:5432", "ftp.example.org", "cache.internal"]);
  const path = pick(["", "/app", "/v1/data?x=1", "/0"]);
  return `${scheme}://${pick(FIRST)}:${chars(int(6, 14))}@${host}${path}`;
}

function apiKey(): string {
  return pick([
    () => "AKIA" + chars(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
    () => "ghp_" + chars(36),
    () => "github_pat_" + chars(22) + "_" + chars(59),
    () => "xoxb-" + digits(11) + "-" + digits(12) + "-" + chars(24),
    () => "sk_live_" + chars(24),
    () => "AIza" + chars(35, ALNUM + "_-"),
    () => "sk-" + chars(48),
    () => "sk-proj-" + chars(64, ALNUM + "_-"),
  ])();
}

function privateKey(): string {
  const kind = pick(["RSA ", "EC ", "OPENSSH ", ""]);
  const body = Array.from({ length: int(2, 5) }, () => chars(64, ALNUM + "+/")).join("\n");
  return `-----BEGIN ${kind}PRIVATE KEY-----\n${body}\n-----END ${kind}PRIVATE KEY-----`;
}

// --- hard negatives ----------------------------------------------------------------------

function isbn13(): string {
  const body = "978" + digits(9);
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += Number(body[i]) * (i % 2 === 0 ? 1 : 3);
  const d = body + ((10 - (sum % 10)) % 10);
  return `${d.slice(0, 3)}-${d.slice(3, 4)}-${d.slice(4, 7)}-${d.slice(7, 12)}-${d.slice(12)}`;
}

const NEGATIVES: (() => string)[] = [
  () =>
    `Order #${int(1, 9)}${digits(9)} shipped on 2024-${String(int(1, 12)).padStart(2, "0")}-${
      String(int(1, 28)).padStart(2, "0")
    }.`,
  () => `Your order number is ${int(1, 9)}${digits(11)}; keep it for returns.`,
  () => `ISBN ${isbn13()} is the second edition.`,
  () =>
    `Released as version ${int(1, 12)}.${int(0, 9)}.${int(0, 30)}.${int(0, 999)} on ${int(1, 28)}/${
      int(1, 12)
    }/2023.`,
  () => `Upgrade to v${int(1, 9)}.${int(0, 20)}.${int(0, 9)}.${int(0, 99)} before Friday.`,
  () => `Build 10.0.${int(10000, 22000)}.${int(1, 2000)} fixed the crash.`,
  () => `Test card ${formatCard(cardDigits(false))} was declined (bad checksum).`,
  () => `Ticket ${int(100, 999)}-${int(10, 99)}-${digits(4)} was reopened.`,
  () => `Invalid SSN example: 000-${int(10, 99)}-${digits(4)} and 666-${int(10, 99)}-${digits(4)}.`,
  () => `The number 9${digits(2)}-${int(10, 99)}-${digits(4)} is an ITIN, not an SSN.`,
  () => `The meeting starts at ${int(10, 23)}:${int(10, 59)}:${int(10, 59)} UTC.`,
  () => `Device MAC 00:1A:${chars(2, "0123456789ABCDEF")}:3C:4D:5E joined the network.`,
  () => `Use std::vector<int> and std::map for this.`,
  () =>
    `Request id 3f2b${chars(4, "0123456789abcdef")}-9c1d-4e5f-a6b7-${
      chars(12, "0123456789abcdef")
    } failed.`,
  () => `Commit ${chars(40, "0123456789abcdef")} introduced the regression.`,
  () => `Transfer to ${iban(false)} bounced: the check digits are wrong.`,
  () => `Write to admin@localhost or root@server for local mail.`,
  () => `Set OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx in your shell.`,
  () => `The total was $${int(1, 999)},${digits(3)},${digits(3)}.${digits(2)} last quarter.`,
  () =>
    `Tracking number 1Z${chars(6, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}${
      digits(10)
    } is in transit.`,
  () => `The ZIP code is ${digits(5)}-${digits(4)}.`,
  () => `Address ${int(256, 999)}.${int(0, 255)}.${int(0, 255)}.${int(0, 255)} is not a valid IP.`,
  () =>
    `Python ${int(2, 3)}.${int(0, 12)}.${int(0, 9)} and Node ${int(12, 22)}.${int(0, 9)}.${
      int(0, 9)
    } are installed.`,
  () => `Coordinates 48.8584, 2.2945 mark the tower.`,
  () => `Invoice INV-${int(2019, 2025)}-${digits(6)} is due in 30 days.`,
  () => `Serial no. ${digits(10)} is covered by warranty.`,
  () => `Account ${digits(8)} was credited with ${int(1, 900)} points.`,
  () => `Call the function with ids ${digits(4)}, ${digits(4)} and ${digits(4)}.`,
  () => `Room ${int(100, 999)}, floor ${int(1, 30)}, extension ${digits(4)}.`,
  () => `Ratio 16:9:4 and time 10:45 are unrelated.`,
];

const PREFIXES = [
  "",
  "Hi team, ",
  "FYI: ",
  "Note — ",
  "Réunion demain: ",
  "🙂 quick one: ",
  "Per our call, ",
  "Customer wrote: ",
  "Ticket #",
  "Grüße aus München! ",
];

// --- positive templates ------------------------------------------------------------------

type Template = () => (string | [string, string])[];
const POSITIVE: Template[] = [
  () => [pick(PREFIXES), "Please email ", ["EMAIL", email()], " with the draft."],
  () => ["Contact: ", ["EMAIL", email()], ", phone ", ["PHONE", phone()], "."],
  () => [pick(PREFIXES), "You can reach me on ", ["PHONE", phone()], " after 5pm."],
  () => ["Call ", ["PHONE", phone()], " or write to ", ["EMAIL", email()], "."],
  () => [
    "Card number ",
    ["CREDIT_CARD", formatCard(cardDigits())],
    ", exp 0",
    String(int(1, 9)),
    "/2",
    String(int(6, 9)),
    ".",
  ],
  () => [pick(PREFIXES), "charge it to ", ["CREDIT_CARD", formatCard(cardDigits())], " please"],
  () => ["Pay into ", ["IBAN", iban()], " by Monday."],
  () => ["IBAN: ", ["IBAN", iban()], " (", pick(["Sparkasse", "Barclays", "UBS", "ING"]), ")"],
  () => ["My SSN is ", ["US_SSN", ssn()], "."],
  () => [
    "Social Security number: ",
    ["US_SSN", ssn()],
    ", DOB 1985-0",
    String(int(1, 9)),
    "-1",
    String(int(0, 9)),
  ],
  () => ["Applicant ", pick(FIRST), ", SSN ", ["US_SSN", ssn()], ", was approved."],
  () => ["Login from ", ["IP_ADDRESS", ipv4()], " at 10:42 was blocked."],
  () => ["The server at ", ["IP_ADDRESS", ipv4()], " is down; try ", ["IP_ADDRESS", ipv4()], "."],
  () => ["Client address ", ["IP_ADDRESS", ipv6()], " connected."],
  () => ["Ping ", ["IP_ADDRESS", ipv6()], " and ", ["IP_ADDRESS", ipv4()], " from the gateway."],
  () => ["Connect with ", ["URL_CREDENTIALS", urlCredentials()], " for the report."],
  () => ["DATABASE_URL=", ["URL_CREDENTIALS", urlCredentials()]],
  () => ["export AWS_ACCESS_KEY_ID=", [
    "API_KEY",
    "AKIA" + chars(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
  ]],
  () => ['token = "', ["API_KEY", apiKey()], '"'],
  () => [pick(PREFIXES), "I accidentally pasted ", ["API_KEY", apiKey()], " in the chat."],
  () => ["key:\n", ["PRIVATE_KEY", privateKey()], "\nplease rotate it"],
  () => ["Mixed: ", ["EMAIL", email()], " / ", ["CREDIT_CARD", formatCard(cardDigits())], " / ", [
    "IP_ADDRESS",
    ipv4(),
  ]],
  () => ["Wire ", ["IBAN", iban()], " ref INV-", digits(6), ", call ", ["PHONE", phone()]],
  () => [
    "v",
    String(int(1, 4)),
    ".",
    String(int(0, 9)),
    ".",
    String(int(0, 9)),
    " deployed to ",
    ["IP_ADDRESS", ipv4()],
    " by ",
    ["EMAIL", email()],
  ],
  () => [
    "Order #",
    String(int(1, 9)),
    digits(9),
    " for ",
    ["EMAIL", email()],
    " ships 2024-05-0",
    String(int(1, 9)),
  ],
];

const lines: { text: string; spans: Span[] }[] = [];
for (let i = 0; i < 260; i++) lines.push(line(...pick(POSITIVE)()));
for (let i = 0; i < 140; i++) lines.push(line(pick(PREFIXES) + pick(NEGATIVES)()));
// Shuffle so that positives and negatives interleave.
for (let i = lines.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [lines[i], lines[j]] = [lines[j], lines[i]];
}
await Deno.mkdir(new URL(".", OUT), { recursive: true });
const tmp = OUT.pathname + ".tmp";
await Deno.writeTextFile(tmp, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
await Deno.rename(tmp, OUT);
console.log(`wrote ${lines.length} lines to ${OUT.pathname}`);
