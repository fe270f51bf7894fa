import assert from "node:assert/strict";
import {
  anonymize,
  cardBrand,
  creditCardValid,
  detectPii,
  emailValid,
  hashTag,
  ibanValid,
  ipv4Valid,
  ipv6Valid,
  luhnValid,
  maskValue,
  parsePiiTypes,
  PiiError,
  type PiiHit,
  resolveOverlaps,
  ssnValid,
} from "./mod.ts";

Deno.test("Luhn and card issuer ranges", () => {
  assert.ok(luhnValid("79927398713"));
  assert.ok(!luhnValid("79927398710"));
  assert.ok(!luhnValid("7992a398713"));
  for (
    const [n, brand] of [
      ["4111111111111111", "visa"],
      ["5555555555554444", "mastercard"],
      ["2223003122003222", "mastercard"],
      ["378282246310005", "amex"],
      ["6011111111111117", "discover"],
      ["3530111333300000", "jcb"],
      ["36227206271667", "diners"],
    ] as const
  ) {
    assert.equal(cardBrand(n), brand, n);
    assert.ok(creditCardValid(n), n);
  }
  assert.ok(!creditCardValid("4111111111111112"), "bad check digit");
  assert.ok(!creditCardValid("9111111111111110"), "no issuer starts with 9");
  assert.ok(!creditCardValid("411111111111111"), "Visa has no 15-digit numbers");
  assert.ok(!creditCardValid("0000000000000000"), "all zeros passes Luhn but is no card");
  assert.equal(cardBrand("37828224631000"), undefined, "Amex is 15 digits");
});

Deno.test("US SSN: the never-issued ranges", () => {
  assert.ok(ssnValid("123456789"));
  assert.ok(ssnValid("899010001"));
  for (
    const bad of ["000123456", "666123456", "900123456", "999123456", "123006789", "123450000"]
  ) {
    assert.ok(!ssnValid(bad), bad);
  }
  assert.ok(!ssnValid("12345678"), "8 digits");
});

Deno.test("IBAN: mod 97 and per-country length", () => {
  assert.ok(ibanValid("GB82WEST12345698765432"));
  assert.ok(ibanValid("GB82 WEST 1234 5698 7654 32"));
  assert.ok(ibanValid("DE89370400440532013000"));
  assert.ok(!ibanValid("GB82WEST12345698765433"), "check digits");
  assert.ok(!ibanValid("DE8937040044053201300"), "DE is 22 characters");
  assert.ok(!ibanValid("XX82WEST12345698765432"), "no such country");
});

Deno.test("IPv4 and IPv6 parsers", () => {
  for (const ok of ["192.168.0.1", "0.0.0.0", "255.255.255.255", "8.8.8.8"]) {
    assert.ok(ipv4Valid(ok), ok);
  }
  for (const bad of ["256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3", "a.b.c.d"]) {
    assert.ok(!ipv4Valid(bad), bad);
  }
  for (
    const ok of [
      "2001:db8::1",
      "::1",
      "fe80::1ff:fe23:4567:890a",
      "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
      "::ffff:192.0.2.128",
      "1::",
    ]
  ) {
    assert.ok(ipv6Valid(ok), ok);
  }
  for (
    const bad of [
      "12:30:45",
      "00:1A:2B:3C:4D:5E",
      "1:2:3:4:5:6:7:8:9",
      "2001:db8::1::2",
      "2001:db8:::1",
      "12345::1",
      "1:2:3:4:5:6:7::8:9",
      "::ffff:300.0.2.1",
      "g::1",
    ]
  ) {
    assert.ok(!ipv6Valid(bad), bad);
  }
});

Deno.test("e-mail limits", () => {
  assert.ok(emailValid("john.doe+tag@mail.example.co.uk"));
  assert.ok(!emailValid("john..doe@example.com"));
  assert.ok(!emailValid("john@localhost"), "no TLD");
  assert.ok(!emailValid("john@-example.com"), "label starts with a hyphen");
  assert.ok(!emailValid("john@example.c0m"), "numeric TLD");
  assert.ok(!emailValid(`${"a".repeat(65)}@example.com`), "local part over 64");
});

/** The (type, text) pairs detectPii finds. */
function found(text: string): [string, string][] {
  return detectPii(text).map((h) => [h.type, h.text]);
}

Deno.test("detectPii finds each type and ignores look-alikes", () => {
  assert.deepEqual(
    found(
      "Mail john.doe@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111, SSN 123-45-6789.",
    ),
    [
      ["EMAIL", "john.doe@example.com"],
      ["PHONE", "+44 20 7946 0958"],
      ["CREDIT_CARD", "4111 1111 1111 1111"],
      ["US_SSN", "123-45-6789"],
    ],
  );
  assert.deepEqual(found("Pay GB82 WEST 1234 5698 7654 32 from 10.0.0.7 or 2001:db8::7."), [
    ["IBAN", "GB82 WEST 1234 5698 7654 32"],
    ["IP_ADDRESS", "10.0.0.7"],
    ["IP_ADDRESS", "2001:db8::7"],
  ]);
  assert.deepEqual(
    found("db: postgres://admin:s3cr3tPw@db.example.com:5432/app, key AKIAIOSFODNN7EXAMPLE"),
    [
      ["URL_CREDENTIALS", "postgres://admin:s3cr3tPw@db.example.com:5432/app"],
      ["API_KEY", "AKIAIOSFODNN7EXAMPLE"],
    ],
  );
  const pem =
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1b2c3\n-----END RSA PRIVATE KEY-----";
  assert.deepEqual(found(`key:\n${pem}\nend`), [["PRIVATE_KEY", pem]]);
  for (
    const key of [
      "ghp_0123456789abcdefghijABCDEFGHIJ012345",
      "xoxb-12345678901-123456789012-abcDEF123ghiJKL456mnoPQR7",
      "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
      "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
      "sk-proj-abc123DEF456ghi789JKL012mno345PQR",
    ]
  ) {
    assert.deepEqual(found(`token ${key} leaked`), [["API_KEY", key]], key);
  }
  assert.deepEqual(found("Call me on 415.555.2671, Diners 3056 9309 0259 04."), [
    ["PHONE", "415.555.2671"],
    ["CREDIT_CARD", "3056 9309 0259 04"],
  ]);
  // Hard negatives: nothing at all.
  for (
    const text of [
      "Order #4155552671 shipped 2024-01-15.",
      "ISBN 978-3-16-148410-0, second edition.",
      "Upgrade to v1.2.3.4 or version 10.0.19041.1 now.",
      "Test card 4111 1111 1111 1112 was declined.",
      "SSNs are never 000-12-3456, 666-12-3456 or 912-34-5678.",
      "At 12:30:45 device 00:1A:2B:3C:4D:5E used std::vector.",
      "Address 300.1.2.3 is not an IP.",
      "Write to root@localhost; set OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.",
      "The ZIP code is 94105-1234.",
      "Transfer to GB83WEST12345698765432 bounced.",
      "Docs at https://user@example.com/path; the asset icon@2x.png; coordinates 48.8584, 2.2945.",
    ]
  ) {
    assert.deepEqual(found(text), [], text);
  }
});

Deno.test("spans are UTF-16 offsets", () => {
  const text = "🙂 Grüße: mail jo@example.com";
  const [hit] = detectPii(text);
  assert.equal(hit.start, text.indexOf("jo@"));
  assert.equal(hit.start, 15, "the emoji counts as two code units");
  assert.equal(text.slice(hit.start, hit.end), "jo@example.com");
});

Deno.test("nine bare digits are an SSN only next to a context word", () => {
  assert.deepEqual(found("Reference 123456789 is closed."), []);
  assert.deepEqual(found("My social security number is 123456789."), [["US_SSN", "123456789"]]);
});

Deno.test("--types and minScore filter, and a bad type is a PiiError", () => {
  const text = "a@example.com 10.1.2.3";
  assert.deepEqual(detectPii(text, { types: ["IP_ADDRESS"] }).map((h) => h.type), ["IP_ADDRESS"]);
  assert.deepEqual(detectPii(text, { minScore: 0.9 }).map((h) => h.type), ["EMAIL"]);
  assert.deepEqual(parsePiiTypes("email, ip-address"), ["EMAIL", "IP_ADDRESS"]);
  assert.throws(() => parsePiiTypes("email,zip"), PiiError);
  assert.throws(() => detectPii(text, { phoneRegions: ["XX"] }), PiiError);
});

function fakeHit(type: PiiHit["type"], start: number, end: number, score: number): PiiHit {
  return { type, start, end, score, text: "", normalized: "" };
}

Deno.test("overlaps: score, then length, then type order, then position", () => {
  const ab = resolveOverlaps([
    fakeHit("PHONE", 0, 10, 0.75),
    fakeHit("CREDIT_CARD", 2, 12, 0.9),
    fakeHit("EMAIL", 20, 30, 1),
  ]);
  assert.deepEqual(ab.map((h) => h.type), ["CREDIT_CARD", "EMAIL"]);
  const longer = resolveOverlaps([
    fakeHit("EMAIL", 5, 10, 1),
    fakeHit("URL_CREDENTIALS", 0, 12, 1),
  ]);
  assert.deepEqual(longer.map((h) => h.type), ["URL_CREDENTIALS"]);
  const tie = [fakeHit("PHONE", 0, 5, 0.8), fakeHit("IP_ADDRESS", 1, 6, 0.8)];
  assert.deepEqual(resolveOverlaps(tie).map((h) => h.type), ["IP_ADDRESS"]);
  assert.deepEqual(resolveOverlaps([...tie].reverse()), resolveOverlaps(tie), "order-independent");
  const same = [fakeHit("PHONE", 3, 8, 0.8), fakeHit("PHONE", 0, 5, 0.8)];
  assert.deepEqual(resolveOverlaps(same).map((h) => h.start), [0]);
  // An e-mail inside a URL with credentials is one URL_CREDENTIALS hit.
  assert.deepEqual(found("see https://bob:pw1@example.com now"), [
    ["URL_CREDENTIALS", "https://bob:pw1@example.com"],
  ]);
});

Deno.test("operators: replace, mask, redact, hash", async () => {
  const text = "Card 4111-1111-1111-1111, mail Jo@Example.com.";
  const hits = detectPii(text);
  assert.equal(
    await anonymize(text, hits, { kind: "replace" }),
    "Card <CREDIT_CARD>, mail <EMAIL>.",
  );
  assert.equal(
    await anonymize(text, hits, { kind: "mask" }),
    "Card ****-****-****-1111, mail **@******e.com.",
  );
  assert.equal(
    await anonymize(text, hits, { kind: "mask", keep: 0, char: "#" }),
    "Card ####-####-####-####, mail ##@#######.###.",
  );
  assert.equal(await anonymize(text, hits, { kind: "redact" }), "Card , mail .");
  assert.equal(maskValue("ab🙂cd", 1), "**🙂*d", "code points, not code units");

  const hashed = await anonymize(text, hits, { kind: "hash", salt: "pepper" });
  assert.match(hashed, /^Card <CREDIT_CARD:[0-9a-f]{16}>, mail <EMAIL:[0-9a-f]{16}>\.$/);
  // HMAC-SHA-256("pepper", "jo@example.com"), computed independently with Python's hmac module.
  const email = hits.find((h) => h.type === "EMAIL")!;
  assert.equal(email.normalized, "jo@example.com");
  assert.equal(
    await hashTag(email, "pepper", 64),
    "<EMAIL:8a1156a750e97afb3adf09d9ea11c3a699202c9a2a9ede491e321556f0da0dcd>",
  );
  // Same value, same tag; another salt, another tag; separators do not matter for cards.
  const again = detectPii("4111 1111 1111 1111")[0];
  const card = hits.find((h) => h.type === "CREDIT_CARD")!;
  assert.equal(await hashTag(again, "pepper"), await hashTag(card, "pepper"));
  assert.notEqual(await hashTag(card, "salt"), await hashTag(card, "pepper"));
  await assert.rejects(() => anonymize(text, hits, { kind: "hash", salt: "" }), PiiError);
  await assert.rejects(
    () =>
      anonymize(text, [fakeHit("EMAIL", 0, 5, 1), fakeHit("EMAIL", 3, 8, 1)], { kind: "redact" }),
    PiiError,
  );
});
