/**
 * Property-based fuzzing of every JSON endpoint (bodies, path ids, query strings) with fast-check.
 * The property: the service never answers 5xx and never breaks; it answers 2xx, or a 4xx whose body is
 * {"error":{"code","message"}} with a non-empty message; and /healthz (and /readyz) still answer after.
 *
 * FUZZ_RUNS (default 1,500) is the number of generated requests across all properties, shared by
 * weight; FUZZ_SEED replays a run; FUZZ_STRICT=1 stops a property at its first bad answer and lets
 * fast-check shrink it. Otherwise every bad answer is recorded, the smallest request per endpoint and
 * status is kept, and the property fails at its end listing them.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { createHead } from '../helpers/factories.js';
import { ENDPOINTS, pathFor, routeOf, type Endpoint, type Fixture } from '../helpers/endpoints.js';
import { waitForRun } from '../helpers/feedback.js';
import { insertHolds } from '../../src/tuning/training.repository.js';
import { getHead } from '../../src/models/head.repository.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got ${JSON.stringify(raw)}`);
  return n;
}

const TOTAL_RUNS = envInt('FUZZ_RUNS', 1_500);
const SEED = envInt('FUZZ_SEED', Math.floor(Math.random() * 2 ** 31));
const STRICT = process.env.FUZZ_STRICT === '1';
const BODY_LIMIT = 1024 * 1024; // MAX_BODY_SIZE, set to 1mb below (the default is larger: config.ts defaultBodyBytes)

// ---------------------------------------------------------------------------------------------------
// Requests and what counts as a bad answer

interface Req {
  method: Endpoint['method'];
  /** Path and query as sent (already percent-encoded where meant to be). */
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** How the request was built, for the report (bodies can be megabytes). */
  note?: string;
}

interface Answer {
  status: number;
  body: any;
  text: string;
}

interface Finding {
  problem: string;
  req: Req;
  answer: string;
}

/** A string that can be dropped into a JSON text where a value goes, by replacing `"<marker>"`. */
const MARKER = '\u0007fuzz\u0007';
const MARKER_JSON = JSON.stringify(MARKER);

function describeBody(body: Buffer | undefined): string {
  if (body === undefined) return 'no body';
  if (body.length === 0) return 'empty body';
  let text: string | null = null;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    text = null;
  }
  if (text === null) return `${body.length} bytes, not UTF-8: hex ${body.subarray(0, 120).toString('hex')}${body.length > 120 ? '…' : ''}`;
  const shown = text.length > 300 ? `${text.slice(0, 150)}…${text.slice(-60)}` : text;
  return `${body.length} bytes: ${JSON.stringify(shown)}`;
}

function describeReq(req: Req): string {
  const headers = Object.entries(req.headers)
    .filter(([k]) => k.toLowerCase() !== 'authorization')
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  const url = req.url.length > 300 ? `${req.url.slice(0, 300)}… (${req.url.length} characters)` : req.url;
  return [`${req.method} ${url}`, ...headers, describeBody(req.body), ...(req.note ? [`(${req.note})`] : [])].join(' | ');
}

/** Why an answer breaks the contract, or null when it keeps it. */
function problemOf(a: Answer): string | null {
  if (a.status >= 200 && a.status < 300) return null;
  if (a.status >= 500) return `${a.status} ${a.body?.error?.code ?? ''}`.trim();
  if (a.status >= 400 && a.status < 500) {
    const e = a.body?.error;
    const ok =
      a.body && typeof a.body === 'object' && Object.keys(a.body).length === 1 && e && typeof e === 'object' &&
      typeof e.code === 'string' && e.code.length > 0 && typeof e.message === 'string' && e.message.trim().length > 0;
    return ok ? null : `${a.status} without {"error":{"code","message"}}`;
  }
  return `unexpected status ${a.status}`;
}

// ---------------------------------------------------------------------------------------------------
// Generators

type Path = (string | number)[];

/** Every field of a value (nested ones too), as paths. */
function fieldPaths(v: unknown, at: Path = []): Path[] {
  const out: Path[] = [];
  if (Array.isArray(v)) {
    v.forEach((x, i) => out.push([...at, i], ...fieldPaths(x, [...at, i])));
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) out.push([...at, k], ...fieldPaths(x, [...at, k]));
  }
  return out;
}

function valueAt(v: unknown, path: Path): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], v);
}

/** A copy of `body` with `path` set to `value` (removed when `value` is undefined). */
function withField(body: Record<string, unknown>, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(body);
  const parent = valueAt(copy, path.slice(0, -1)) as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (value === undefined && !Array.isArray(parent)) delete parent[last];
  else parent[last] = value;
  return copy;
}

/** JSON text of `body` with the value at `path` replaced by raw JSON text (or raw bytes). */
function spliceRaw(body: Record<string, unknown>, path: Path, raw: string | Buffer): Buffer {
  const text = JSON.stringify(withField(body, path, MARKER));
  const at = text.indexOf(MARKER_JSON);
  return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(raw), Buffer.from(text.slice(at + MARKER_JSON.length))]);
}

const pathName = (p: Path) => (p.length ? p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('').slice(1) || 'body' : 'the whole body');

const withBody = ENDPOINTS.filter((e) => e.example);
const posts = ENDPOINTS.filter((e) => e.method === 'POST');
const withId = ENDPOINTS.filter((e) => e.id);
const gets = ENDPOINTS.filter((e) => e.method === 'GET');

/** An endpoint with a valid body and one of its fields (optionally only string-valued ones, or the root). */
function fieldOf(opts: { strings?: boolean; root?: boolean; extra?: boolean } = {}) {
  const choices = withBody.flatMap((e) => {
    const paths = fieldPaths(e.example).filter((p) => !opts.strings || typeof valueAt(e.example, p) === 'string');
    if (opts.root) paths.push([]);
    // A field the schema does not know (refused by strict schemas, ignored by /v1/moderations).
    if (opts.extra) paths.push(['x']);
    return paths.map((path) => ({ e, path }));
  });
  return fc.constantFrom(...choices);
}

/** Idempotency-Key: mostly absent, usually valid when present (it changes which code runs). */
const idempotencyKey = fc.option(
  fc.oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[\x21-\x7e]{1,64}$/) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'a b', 'x'.repeat(256), 'caf\u00e9', '\t') },
  ),
  { freq: 3 },
);

const SPECIAL_CHARS = [
  '\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u2028', '\u2029', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e',
  '\u2066', '\u2067', '\u2068', '\u2069', '\ufeff', '\ufffd', '\ufffe', '\uffff', '\u0000', '\u0001', '\u001f', '\u007f',
  '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', '\u0301', '\u0130', '\u00df', '\u0627\u0644', 'e\u0301',
  '\\', '"', '/', '<script>', "'; drop table x; --", '%00', '%s', '${x}', '\r\n', '\t', ' ',
];

/** Strings made of invisible, bidirectional, NUL, lone-surrogate and other awkward characters. */
const awkwardString = fc
  .array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...SPECIAL_CHARS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }), {
    minLength: 1,
    maxLength: 24,
  })
  .map((parts) => parts.join(''));

const NUMBER_LITERALS = [
  '1e309', '-1e309', '1e400', '-0', '0', '-0.0', '0e0', '1e-400', '4.9e-324', '5e-324', '2.2250738585072014e-308',
  '1.7976931348623157e308', '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993',
  '18446744073709551616', '123456789012345678901234567890123456789', '1E2', '1e2', '2.5', '0.5', '-1', '1', '50', '51',
  '3650', '3651', '2147483647', '2147483648', '1' + '0'.repeat(400), '0.' + '0'.repeat(400) + '1',
  // Not JSON: must be a 400, never a crash.
  'NaN', 'Infinity', '-Infinity', '+1', '01', '.5', '1.', '0x1F', '1e', '--1', '1_000',
];

const numberLiteral = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NUMBER_LITERALS) },
  { weight: 1, arbitrary: fc.double().filter(Number.isFinite).map((d) => JSON.stringify(d)) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 256n), max: 2n ** 256n }).map(String) },
  { weight: 1, arbitrary: fc.integer().map(String) },
);

/** Byte sequences that are not UTF-8: stray continuations, overlongs, surrogates, beyond U+10FFFF, cut short. */
const INVALID_UTF8: number[][] = [
  [0x80], [0xbf], [0xff], [0xfe], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98],
  [0xc3], [0x00], [0xef, 0xbb, 0xbf],
];
const invalidUtf8 = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...INVALID_UTF8) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => [...a]) },
      { weight: 1, arbitrary: fc.constantFrom([0x61], [0x22], [0x5c], [0x7b]) },
    ),
    { minLength: 1, maxLength: 12 },
  )
  .map((chunks) => Buffer.from(chunks.flat()));

/** Percent-encodes every byte of `b` (so invalid UTF-8 reaches the router as escapes). */
const percentBytes = (b: Uint8Array) => [...b].map((x) => `%${x.toString(16).padStart(2, '0').toUpperCase()}`).join('');
/** Percent-encodes a string's UTF-8 bytes (lone surrogates become U+FFFD's bytes, as in any client). */
const percentString = (s: string) => percentBytes(Buffer.from(s, 'utf8'));

const RAW_SEGMENTS = [
  '%', '%%', '%zz', '%0', '%00', '%c0%80', '%ed%a0%80', '%ff', '..', '.', '%2e%2e', '%2F', '%2f..%2f', 'null', 'undefined',
  '0', '-1', '1e309', 'NaN', '%20', '%E2%80%8B', '%E2%80%AE', '%EF%BB%BF', '~', "'", '(', '*', '!', '$', '@', ':', ';',
  '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'FFFFFFFF-FFFF-7FFF-BFFF-FFFFFFFFFFFF',
  '00000000-0000-0000-0000-0000000000000', '00000000-0000-0000-0000-00000000000', '{00000000-0000-0000-0000-000000000000}',
  '00000000000000000000000000000000', 'a'.repeat(4000),
];

/** A path id: the real row of its kind, a random uuid, or something that is no uuid at all. */
const pathId = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) }, // the fixture
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.uuid().map((u) => u.toUpperCase()) },
  { weight: 3, arbitrary: fc.constantFrom(...RAW_SEGMENTS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 80 }).map(percentString) },
  { weight: 2, arbitrary: awkwardString.map(percentString) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map(percentBytes) },
);

const QUERY_VALUES = [
  '', ' ', '0', '-0', '1', '-1', '30', '3650', '3651', '1.5', '1e2', '1e309', '-1e309', 'NaN', 'Infinity', '0x10', '0b1',
  '9007199254740991', '9007199254740993', '1' + '0'.repeat(40), 'true', 'null', '[]', '{}', 'jsonl', 'trl', 'csv', 'train',
  'eval', 'violence', 'harassment', '%', '%zz', '%00', '%ff', '%c0%80', '%E2%80%AE',
];
const queryKey = (e: Endpoint) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...Object.keys(e.query ?? { days: [] }), 'limit', 'days') },
    { weight: 1, arbitrary: fc.constantFrom('', 'a[b]', 'days[]', '__proto__', 'constructor', 'toString', '%', '%00', 'x'.repeat(300)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map(percentString) },
  );
const queryValue = (e: Endpoint, key: string) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...(e.query && Object.hasOwn(e.query, key) ? e.query[key] : ['1']), ...QUERY_VALUES) },
    // NUL, which PostgreSQL text cannot hold, in the places a decoder might let it through.
    { weight: 2, arbitrary: fc.constantFrom('%00', 'a%00', '%00a', 'violence%00', '%E2%80%AE%00', '%C0%80') },
    { weight: 2, arbitrary: awkwardString.map(percentString) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map(percentString) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map(percentBytes) },
  );
const joinQuery = (kv: [string, string | null][]) => kv.map(([k, v]) => (v === null ? k : `${k}=${v}`)).join('&');

/** Anything at all: unknown keys, repeated keys, keys without values. */
const freeQuery = (e: Endpoint) =>
  fc
    .array(queryKey(e).chain((k) => fc.tuple(fc.constant(k), fc.option(queryValue(e, k), { freq: 8 }))), { minLength: 1, maxLength: 6 })
    .map(joinQuery);

/** Valid values for some known parameters and one fuzzed: strict query schemas refuse the rest before it counts. */
function oneFuzzedQuery(e: Endpoint, known: Record<string, string[]>) {
  const keys = Object.keys(known);
  return fc
    .record({
      valid: fc.subarray(keys).chain((ks) => fc.tuple(...ks.map((k) => fc.constantFrom(...known[k]).map((v): [string, string] => [k, v])))),
      fuzzed: fc.constantFrom(...keys).chain((k) => queryValue(e, k).map((v): [string, string] => [k, v])),
    })
    .map(({ valid, fuzzed }) => joinQuery([...valid.filter(([k]) => k !== fuzzed[0]), fuzzed]));
}

const queryString = (e: Endpoint) =>
  e.query ? fc.oneof({ weight: 2, arbitrary: oneFuzzedQuery(e, e.query) }, { weight: 1, arbitrary: freeQuery(e) }) : freeQuery(e);

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"',
  'APPLICATION/JSON', 'application/json; charset=latin1', 'application/json; charset=iso-8859-1', 'application/json; charset=utf-16',
  'application/json; charset=utf-16le', 'application/json; charset=utf-32', 'application/json; charset=nope', 'application/json; charset=',
  'application/json; foo=bar', 'application/vnd.api+json', 'application/merge-patch+json', 'application/json-patch+json',
  'application/jsonx', 'application/x-json', 'text/json', 'text/plain', 'text/html', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz', 'multipart/form-data', 'application/octet-stream', 'application/xml', '*/*', 'json',
  'application/', '/', ';', 'application/json;;', 'application/json, text/plain',
];
const CONTENT_ENCODINGS = ['gzip', 'deflate', 'br', 'identity', 'x-unknown', 'gzip, gzip', 'GZIP', 'compress', 'zstd'];

// ---------------------------------------------------------------------------------------------------

for (const kind of testDatabases()) describe(`fuzzing the HTTP API (${kind.name})`, { skip: kind.skip }, () => {
  let app: TestApp;
  const counts = { requests: 0 };
  let startedAt = 0;
  const fixtures = new Map<Fixture, string>();
  const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
  const perProperty: string[] = [];
  let fixtureTexts = 0;

  async function send(req: Req): Promise<Answer | { error: string }> {
    counts.requests++;
    const r =
      req.method === 'GET' ? app.request.get(req.url) : req.method === 'DELETE' ? app.request.delete(req.url) : app.request.post(req.url);
    r.set({ ...admin, ...req.headers });
    // superagent would JSON-encode a Buffer sent as application/json; the bytes must go out as they are.
    r.serialize((b: unknown) => b as string);
    if (req.body !== undefined) r.send(req.body as unknown as string);
    r.timeout({ response: 45_000, deadline: 90_000 });
    try {
      const res = await r;
      return { status: res.status, body: res.body, text: res.text ?? '' };
    } catch (err) {
      const e = err as { response?: { status: number; body: unknown; text: string }; message: string; code?: string };
      if (e.response) return { status: e.response.status, body: e.response.body, text: e.response.text ?? '' };
      return { error: `${e.code ?? ''} ${e.message}`.trim() };
    }
  }

  /** A setup request: must succeed. */
  async function must(method: Req['method'], url: string, body?: unknown): Promise<any> {
    const a = await send({
      method,
      url,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
    });
    if ('error' in a || a.status >= 300) throw new Error(`setup ${method} ${url} failed: ${JSON.stringify(a)}`);
    return a.body;
  }

  async function moderated(): Promise<{ decision_id: string; item_id: string }> {
    const out = await must('POST', '/v1/moderate', { input: `fuzz fixture text ${++fixtureTexts}` });
    return out.results[0];
  }

  /** The real row of each kind; made again when a request used it up (deleted, completed, appealed). */
  async function fixture(kind: Fixture): Promise<string> {
    const have = fixtures.get(kind);
    if (have) return have;
    let id: string;
    switch (kind) {
      case 'decision':
      case 'item': {
        const d = await moderated();
        fixtures.set('decision', d.decision_id);
        fixtures.set('item', d.item_id);
        return kind === 'decision' ? d.decision_id : d.item_id;
      }
      case 'task': {
        await moderated();
        // Leased to the admin key every fuzz request uses, so verdicts and releases reach their checks.
        const claimed = await must('POST', '/v1/review/claim', { limit: 1 });
        id = claimed.data[0].id;
        break;
      }
      case 'apiKey':
        id = (await must('POST', '/v1/admin/api-keys', { name: 'fuzz fixture', role: 'client' })).id;
        break;
      case 'run': {
        const run = await must('POST', '/v1/training/runs', {});
        await waitForRun(app, run.id);
        id = run.id;
        break;
      }
      case 'head':
        id = (await must('GET', '/v1/models')).data.find((h: { status: string }) => h.status === 'active').id;
        break;
      case 'hold':
        // A held batch as the drift check writes one (a real drift needs rounds of feedback).
        id = crypto.randomUUID();
        await insertHolds(app.database.db, [{ id, runId: await fixture('run'), category: 'violence', moderator: null, fromLabelId: 0, toLabelId: 0, labels: 0, reason: 'fuzz fixture' }]);
        break;
    }
    fixtures.set(kind, id);
    return id;
  }

  /** Forgets fixtures a successful request used up. */
  function usedUp(e: Endpoint, status: number): void {
    if (status < 200 || status >= 300) return;
    const r = routeOf(e);
    if (r === 'POST /v1/review/tasks/:id/verdict' || r === 'POST /v1/review/tasks/:id/release') fixtures.delete('task');
    if (r === 'POST /v1/decisions/:id/appeal') fixtures.delete('decision');
    if (r === 'DELETE /v1/items/:id') ['decision', 'item', 'task'].forEach((k) => fixtures.delete(k as Fixture));
    if (r === 'DELETE /v1/admin/api-keys/:id') fixtures.delete('apiKey');
    if (r === 'POST /v1/label-holds/:id/accept' || r === 'POST /v1/label-holds/:id/discard') fixtures.delete('hold');
  }

  async function urlOf(e: Endpoint, id?: string | null, query?: string): Promise<string> {
    const path = e.id ? pathFor(e, id ?? (await fixture(e.id))) : e.path;
    return query ? `${path}?${query}` : path;
  }

  const jsonHeaders = (idem: string | null = null): Record<string, string> => ({
    'Content-Type': 'application/json',
    ...(idem === null ? {} : { 'Idempotency-Key': idem }),
  });

  before(async () => {
    startedAt = performance.now();
    app = await startTestApp({
      db: kind,
      env: { RATE_LIMIT_PER_SECOND: '0', MAX_BODY_SIZE: '1mb' },
      // Every decision is audited: tasks exist for claims, verdicts and releases.
      policies: policies(reviewPolicy('default')),
    });
    // Created once: runs and heads are never deleted, so later requests cannot use them up.
    await fixture('run');
    await fixture('head');
  });
  after(async () => {
    await app?.close();
  });

  /**
   * Runs one property: `runs` generated requests, each checked; bad answers are collected (the smallest
   * request per endpoint and problem kept) and the property fails at the end naming them.
   */
  async function property<T>(t: TestContext, name: string, weight: number, arb: fc.Arbitrary<T>, build: (x: T) => Promise<{ e: Endpoint; req: Req }>) {
    const runs = Math.max(1, Math.ceil((TOTAL_RUNS * weight) / TOTAL_WEIGHT));
    const sentBefore = counts.requests;
    const t0 = performance.now();
    const findings = new Map<string, Finding>();
    await fc.assert(
      fc.asyncProperty(arb, async (x) => {
        const { e, req } = await build(x);
        const a = await send(req);
        const problem = 'error' in a ? `no answer (${a.error})` : problemOf(a);
        if ('status' in a) usedUp(e, a.status);
        if (!problem) return;
        const answer = 'error' in a ? a.error : `${a.status} ${a.text.slice(0, 200)}`;
        if (STRICT) assert.fail(`${routeOf(e)} → ${problem}\n  request: ${describeReq(req)}\n  answer: ${answer}`);
        const key = `${routeOf(e)} → ${problem}`;
        const size = (req.body?.length ?? 0) + req.url.length;
        const prev = findings.get(key);
        if (!prev || size < (prev.req.body?.length ?? 0) + prev.req.url.length) findings.set(key, { problem, req, answer });
      }),
      { numRuns: runs, seed: SEED + PROPERTY_ORDER.indexOf(name), endOnFailure: !STRICT },
    );
    const health = await send({ method: 'GET', url: '/healthz', headers: {} });
    assert.ok('status' in health && health.status === 200, `/healthz after "${name}": ${JSON.stringify(health)}`);
    const ready = await send({ method: 'GET', url: '/readyz', headers: {} });
    assert.ok('status' in ready && ready.status === 200, `/readyz after "${name}": ${JSON.stringify(ready)}`);
    const ms = Math.round(performance.now() - t0);
    const line = `${name}: ${runs} runs, ${counts.requests - sentBefore} requests, ${ms} ms, ${findings.size} distinct bad answers`;
    perProperty.push(line);
    t.diagnostic(line);
    const report = [...findings.entries()].map(([key, f]) => `  ${key}\n    request: ${describeReq(f.req)}\n    answer: ${f.answer}`);
    assert.equal(
      findings.size,
      0,
      `SERVICE BUG (found by fuzzing, seed ${SEED}): "${name}" got answers that break the contract ` +
        `(never 5xx; 4xx only as {"error":{"code","message"}}). Smallest request per endpoint and problem:\n${report.join('\n')}`,
    );
  }

  const WEIGHTS: Record<string, number> = {
    'arbitrary JSON bodies (fc.jsonValue)': 14,
    'arbitrary values serialised (fc.anything)': 10,
    'a wrong type in each known field of a valid body': 16,
    'path ids': 10,
    'query strings': 10,
    'zero-width, bidirectional, NUL and lone-surrogate characters in strings': 12,
    'numbers at the edges': 9,
    'invalid UTF-8 bodies': 7,
    'content types and encodings': 6,
    'deep nesting (1,000-100,000 levels)': 3,
    'huge strings (100 KB-2 MB)': 3,
  };
  const TOTAL_WEIGHT = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  const PROPERTY_ORDER = Object.keys(WEIGHTS);
  const w = (name: string) => {
    const weight = WEIGHTS[name];
    if (weight === undefined) throw new Error(`no weight for ${name}`);
    return weight;
  };

  const arbitraryBody = (name: string, values: fc.Arbitrary<unknown>, serialise: (v: unknown) => string | undefined) =>
    test(name, async (t) => {
      await property(
        t,
        name,
        w(name),
        fc.record({ e: fc.constantFrom(...posts), value: values, idem: idempotencyKey }),
        async ({ e, value, idem }) => {
          const text = serialise(value);
          return {
            e,
            req: { method: e.method, url: await urlOf(e), headers: jsonHeaders(idem), body: Buffer.from(text ?? '') },
          };
        },
      );
    });

  arbitraryBody('arbitrary JSON bodies (fc.jsonValue)', fc.jsonValue(), (v) => JSON.stringify(v));

  arbitraryBody(
    'arbitrary values serialised (fc.anything)',
    fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
    }),
    (v) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)),
  );

  test('a wrong type in each known field of a valid body', async (t) => {
    const name = 'a wrong type in each known field of a valid body';
    const wrong = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom<unknown>(undefined, null, true, false, 0, -1, 1.5, 1e21, '', 'x', [], {}, [null], { '': null }, ['audit'], { text: 'x' }) },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    );
    await property(t, name, w(name), fc.record({ f: fieldOf(), value: wrong, idem: idempotencyKey }), async ({ f, value, idem }) => ({
      e: f.e,
      req: {
        method: f.e.method,
        url: await urlOf(f.e),
        headers: jsonHeaders(idem),
        body: Buffer.from(JSON.stringify(withField(f.e.example!, f.path, value)) ?? ''),
        note: `${pathName(f.path)} := ${value === undefined ? '(removed)' : JSON.stringify(value)}`,
      },
    }));
  });

  test('path ids', async (t) => {
    const name = 'path ids';
    await property(t, name, w(name), fc.record({ e: fc.constantFrom(...withId), id: pathId }), async ({ e, id }) => ({
      e,
      req: {
        method: e.method,
        url: await urlOf(e, id),
        headers: e.example ? jsonHeaders() : {},
        body: e.example ? Buffer.from(JSON.stringify(e.example)) : undefined,
      },
    }));
  });

  test('query strings', async (t) => {
    const name = 'query strings';
    // Endpoints get runs by the number of query parameters they read.
    const arb = fc
      .oneof(...gets.map((e) => ({ weight: 1 + Object.keys(e.query ?? {}).length, arbitrary: fc.constant(e) })))
      .chain((e) => fc.record({ e: fc.constant(e), query: queryString(e) }));
    await property(t, name, w(name), arb, async ({ e, query }) => ({
      e,
      req: { method: e.method, url: await urlOf(e, null, query), headers: {} },
    }));
  });

  test('zero-width, bidirectional, NUL and lone-surrogate characters in strings', async (t) => {
    const name = 'zero-width, bidirectional, NUL and lone-surrogate characters in strings';
    // JSON.stringify writes lone surrogates as \ud800-style escapes, which is what reaches the parser.
    await property(t, name, w(name), fc.record({ f: fieldOf({ strings: true }), s: awkwardString, idem: idempotencyKey }), async ({ f, s, idem }) => ({
      e: f.e,
      req: {
        method: f.e.method,
        url: await urlOf(f.e),
        headers: jsonHeaders(idem),
        body: Buffer.from(JSON.stringify(withField(f.e.example!, f.path, s))),
        note: `${pathName(f.path)} := ${JSON.stringify(s)}`,
      },
    }));
  });

  test('numbers at the edges', async (t) => {
    const name = 'numbers at the edges';
    await property(t, name, w(name), fc.record({ f: fieldOf(), n: numberLiteral }), async ({ f, n }) => ({
      e: f.e,
      req: {
        method: f.e.method,
        url: await urlOf(f.e),
        headers: jsonHeaders(),
        body: spliceRaw(f.e.example!, f.path, n),
        note: `${pathName(f.path)} := ${n.length > 60 ? `${n.slice(0, 60)}… (${n.length} characters)` : n}`,
      },
    }));
  });

  test('invalid UTF-8 bodies', async (t) => {
    const name = 'invalid UTF-8 bodies';
    const arb = fc.record({
      f: fieldOf({ strings: true, root: true }),
      bytes: invalidUtf8,
      contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8'),
    });
    await property(t, name, w(name), arb, async ({ f, bytes, contentType }) => {
      // At the root the bytes are the whole body; in a field they sit inside its JSON string.
      const body = f.path.length === 0 ? bytes : spliceRaw(f.e.example!, f.path, Buffer.concat([Buffer.from('"'), bytes, Buffer.from('"')]));
      return {
        e: f.e,
        req: { method: f.e.method, url: await urlOf(f.e), headers: { 'Content-Type': contentType }, body, note: `invalid UTF-8 in ${pathName(f.path)}` },
      };
    });
  });

  test('content types and encodings', async (t) => {
    const name = 'content types and encodings';
    const arb = fc.record({
      e: fc.constantFrom(...posts),
      contentType: fc.option(
        fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: fc.stringMatching(/^[\x20-\x7e]{0,40}$/) }),
        { freq: 8 },
      ),
      encoding: fc.option(fc.constantFrom(...CONTENT_ENCODINGS), { freq: 2 }),
      body: fc.constantFrom('example', 'gzipped example', 'empty', 'form', 'text'),
    });
    await property(t, name, w(name), arb, async ({ e, contentType, encoding, body }) => {
      const json = Buffer.from(JSON.stringify(e.example ?? {}));
      const bytes =
        body === 'example' ? json : body === 'gzipped example' ? gzipSync(json) : body === 'empty' ? Buffer.alloc(0) : body === 'form' ? Buffer.from('input=hello&limit=1') : Buffer.from('hello');
      const headers: Record<string, string> = {};
      if (contentType !== null) headers['Content-Type'] = contentType;
      if (encoding !== null) headers['Content-Encoding'] = encoding;
      return { e, req: { method: e.method, url: await urlOf(e), headers, body: bytes, note: `${body} body` } };
    });
  });

  test('deep nesting (1,000-100,000 levels)', async (t) => {
    const name = 'deep nesting (1,000-100,000 levels)';
    const arb = fc.record({
      f: fieldOf({ root: true, extra: true }),
      depth: fc.integer({ min: 1_000, max: 100_000 }),
      shape: fc.constantFrom('array', 'object', 'mixed'),
      idem: fc.option(fc.stringMatching(/^[a-z0-9]{8,16}$/), { freq: 2 }),
    });
    await property(t, name, w(name), arb, async ({ f, depth, shape, idem }) => {
      const open = (i: number) => (shape === 'array' || (shape === 'mixed' && i % 2 === 1) ? '[' : '{"a":');
      const close = (i: number) => (open(i) === '[' ? ']' : '}');
      const opens: string[] = [];
      const closes: string[] = [];
      for (let i = 0; i < depth; i++) {
        opens.push(open(i));
        closes.push(close(depth - 1 - i));
      }
      const nested = `${opens.join('')}1${closes.join('')}`;
      const body = f.path.length === 0 ? Buffer.from(nested) : spliceRaw(f.e.example!, f.path, nested);
      return {
        e: f.e,
        req: {
          method: f.e.method,
          url: await urlOf(f.e),
          headers: jsonHeaders(idem),
          body,
          note: `${depth} levels of ${shape} nesting at ${pathName(f.path)}`,
        },
      };
    });
  });

  test('huge strings (100 KB-2 MB)', async (t) => {
    const name = 'huge strings (100 KB-2 MB)';
    const arb = fc.record({
      f: fieldOf({ strings: true, extra: true }),
      bytes: fc.integer({ min: 100_000, max: 2_000_000 }),
      ch: fc.constantFrom('a', ' ', '\u00e9', '\u20ac', '\ud83d\ude00', '\u200b', '\u202e', '\\n', 'ab cd '),
    });
    await property(t, name, w(name), arb, async ({ f, bytes, ch }) => {
      const s = ch.repeat(Math.ceil(bytes / Buffer.byteLength(ch)));
      const body = Buffer.from(JSON.stringify(withField(f.e.example!, f.path, s)));
      return {
        e: f.e,
        req: {
          method: f.e.method,
          url: await urlOf(f.e),
          headers: jsonHeaders(),
          body,
          note: `${pathName(f.path)} := ${JSON.stringify(ch)} × ${s.length / ch.length} (${body.length > BODY_LIMIT ? 'over' : 'under'} the 1 MB body limit)`,
        },
      };
    });
  });

  test('the service is still up; totals', async (t) => {
    const health = await send({ method: 'GET', url: '/healthz', headers: {} });
    assert.ok('status' in health && health.status === 200, `/healthz at the end: ${JSON.stringify(health)}`);
    const seconds = (performance.now() - startedAt) / 1000;
    for (const line of perProperty) t.diagnostic(line);
    t.diagnostic(`FUZZ_RUNS=${TOTAL_RUNS} seed=${SEED}: ${counts.requests} requests in ${seconds.toFixed(1)} s (${Math.round(counts.requests / seconds)}/s)`);
    assert.ok(counts.requests >= TOTAL_RUNS, `sent ${counts.requests} requests for FUZZ_RUNS=${TOTAL_RUNS}`);
  });

  /**
   * The smallest requests found (by these properties) to break the contract, replayed every time, so
   * each stays visible by name until the service handles it.
   */
  describe('minimal reproductions of bad answers found by fuzzing', () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const reproductions: { name: string; req: () => Promise<Req> }[] = [
      {
        name: 'a NUL character in the reason of an activation',
        req: async () => ({ method: 'POST', url: `/v1/models/${await fixture('head')}/activate`, headers: jsonHeaders(), body: Buffer.from('{"reason":"\\u0000"}') }),
      },
      {
        name: 'a lone surrogate in the reason of an activation',
        req: async () => ({ method: 'POST', url: `/v1/models/${await fixture('head')}/activate`, headers: jsonHeaders(), body: Buffer.from('{"reason":"\\udc00"}') }),
      },
      {
        name: 'a NUL character in the reason of a rollback (with an earlier head to go back to)',
        req: async () => {
          // A second head of the same backbone (a copy of the active one), activated, makes a rollback possible.
          const active = (await getHead(app.database.db, await fixture('head')))!;
          const { id: copy } = await createHead(app.database.db, active.backboneId, {
            parentId: active.id,
            source: 'fuzz copy',
            weights: active,
            hyperparameters: active.hyperparameters,
            metrics: active.metrics,
          });
          await must('POST', `/v1/models/${copy}/activate`, { reason: 'a head to roll back from' });
          return { method: 'POST', url: '/v1/models/rollback', headers: jsonHeaders(), body: Buffer.from('{"reason":"\\u0000"}') };
        },
      },
      {
        name: 'a NUL character in the category filter of the preference-pair export',
        req: async () => ({ method: 'GET', url: '/v1/preference-pairs?category=%00', headers: {} }),
      },
      {
        name: 'lone low surrogates in the name of a new API key',
        req: async () => ({ method: 'POST', url: '/v1/admin/api-keys', headers: jsonHeaders(), body: Buffer.from('{"name":"\\udc00\\udc00","role":"client"}') }),
      },
      {
        name: 'Idempotency-Key and an unknown field nested 10,000 levels deep on /v1/moderations',
        req: async () => ({ method: 'POST', url: '/v1/moderations', headers: jsonHeaders('deep-1'), body: Buffer.from(`{"input":"hi","x":${nested(10_000)}}`) }),
      },
      {
        name: 'Idempotency-Key and a category value nested 10,000 levels deep in a verdict',
        req: async () => ({
          method: 'POST',
          url: '/v1/review/tasks/00000000-0000-7000-8000-000000000000/verdict',
          headers: jsonHeaders('deep-2'),
          body: Buffer.from(`{"categories":{"violence":${nested(10_000)}}}`),
        }),
      },
    ];
    for (const r of reproductions) {
      test(r.name, async () => {
        const req = await r.req();
        const a = await send(req);
        const problem = 'error' in a ? `no answer (${a.error})` : problemOf(a);
        const answer = 'error' in a ? a.error : `${a.status} ${a.text.slice(0, 200)}`;
        assert.equal(problem, null, `SERVICE BUG (found by fuzzing): ${describeReq(req)}\n  answered: ${answer}`);
      });
    }
  });
});
