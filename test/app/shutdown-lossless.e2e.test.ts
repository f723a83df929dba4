/**
 * A shutdown that loses nothing, with the default settings (no SHUTDOWN_DRAIN_MS), on the real process:
 * SIGTERM, or SIGINT (Ctrl-C: signals.ts routes both to the same shutdown), while requests are in flight
 * on fresh connections (some still in the kernel's accept queue, which a listener closing at once would
 * reset) and while keep-alive clients are sending: every request sent is answered 200, and the process
 * exits 0. The trials are shared, parameterised by the signal.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureBuilt } from '../helpers/build.js';
import { seedEmbeddedDatabase } from '../helpers/db.js';
import { runNode, startService, waitFor } from '../helpers/process.js';
import { tinyServiceEnv } from '../helpers/service-dir.js';

const KEY = 'shutdown-lossless-admin-key-0123456789';
const BODY = JSON.stringify({ input: Array.from({ length: 8 }, (_, i) => `a message of some length to score, number ${i}`) });

interface Outcome {
  status?: number;
  connection?: string;
  error?: string;
}

function post(agent: http.Agent | false, port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, path: '/v1/moderate', method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, connection: String(res.headers.connection ?? '') }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(BODY);
  });
}

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-lossless-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A service on a data directory of its own, `data-n`, holding a migrated copy of the embedded database. */
const start = async (n: number) => {
  await seedEmbeddedDatabase(path.join(dir, `data-${n}`));
  return startService(await tinyServiceEnv(path.join(dir, `data-${n}`), KEY, { RATE_LIMIT_PER_SECOND: '0' }));
};

/**
 * One trial on fresh connections: 24 new connections at once, then `signal` as soon as they are sent
 * (most wait in the accept queue). Returns what the clients got and how the process exited.
 */
async function freshConnectionsTrial(n: number, signal: NodeJS.Signals): Promise<{ outcomes: Outcome[]; code: number | null; tail: string }> {
  const service = await start(n);
  const inFlight = Array.from({ length: 24 }, () => post(false, service.port));
  await new Promise((r) => setImmediate(r));
  service.child.kill(signal);
  const outcomes = await Promise.all(inFlight);
  const exit = await service.exited;
  return { outcomes, code: exit.code, tail: service.tail() };
}

/**
 * One trial on keep-alive connections: six clients send on kept-alive connections; `signal` once traffic
 * flows; each client stops once a response asks it to close (shutting down) or its request fails.
 */
async function keepAliveTrial(n: number, signal: NodeJS.Signals): Promise<{ outcomes: Outcome[]; code: number | null; tail: string }> {
  const service = await start(n);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
  const outcomes: Outcome[] = [];
  let signalled = false;
  const clients = Array.from({ length: 6 }, async () => {
    for (;;) {
      const o = await post(agent, service.port);
      outcomes.push(o);
      if (o.error || (signalled && o.connection === 'close')) return;
    }
  });
  await waitFor(() => outcomes.filter((o) => o.status === 200).length >= 12, 'traffic on kept-alive connections');
  signalled = true;
  service.child.kill(signal);
  await Promise.all(clients);
  const exit = await service.exited;
  agent.destroy();
  return { outcomes, code: exit.code, tail: service.tail() };
}

test('SIGTERM with 24 requests in flight on fresh connections: all 24 answered, exit 0 (three trials)', async () => {
  for (let trial = 0; trial < 3; trial++) {
    const r = await freshConnectionsTrial(trial, 'SIGTERM');
    assert.deepEqual(r.outcomes.filter((o) => o.status !== 200), [], `trial ${trial}: every request answered 200`);
    assert.equal(r.code, 0, r.tail);
  }
});

test('SIGTERM while keep-alive clients send: every request answered, the connections closed by Connection: close, exit 0', async () => {
  const r = await keepAliveTrial(9, 'SIGTERM');
  assert.deepEqual(r.outcomes.filter((o) => o.status !== 200), [], 'no request reset or refused');
  assert.equal(r.code, 0, r.tail);
});

// Ctrl-C: the terminal sends SIGINT, which signals.ts routes to the same shutdown. One trial of each kind.
test('SIGINT (Ctrl-C) with 24 requests in flight on fresh connections: all 24 answered, exit 0', async () => {
  const r = await freshConnectionsTrial(10, 'SIGINT');
  assert.deepEqual(r.outcomes.filter((o) => o.status !== 200), [], 'every request answered 200');
  assert.equal(r.code, 0, r.tail);
});

test('SIGINT (Ctrl-C) while keep-alive clients send: every request answered, the connections closed by Connection: close, exit 0', async () => {
  const r = await keepAliveTrial(11, 'SIGINT');
  assert.deepEqual(r.outcomes.filter((o) => o.status !== 200), [], 'no request reset or refused');
  assert.equal(r.code, 0, r.tail);
});

// The moment a supervisor learns the port is the moment it may stop the server. A hook loaded into the
// service signals its own process as its HTTP server emits `listening`, before the `listening` line is
// logged: with no handler in place yet the default action ends the process at once (killed by SIGTERM,
// every queued connection reset); with the handlers installed before the server starts, it drains.
test('SIGTERM at the instant the server listens: handled, a clean drain and exit 0', async () => {
  await ensureBuilt();
  const hook = path.join(dir, 'signal-on-listening.mjs');
  await fs.writeFile(
    hook,
    `import net from 'node:net';
const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function (event, ...args) {
  if (event === 'listening') process.kill(process.pid, 'SIGTERM');
  return emit.call(this, event, ...args);
};
`,
  );
  await seedEmbeddedDatabase(path.join(dir, 'data-12'));
  const env = await tinyServiceEnv(path.join(dir, 'data-12'), KEY);
  const service = runNode(['--import', hook, 'dist/main.js'], env);
  const code = await service.exited;
  assert.equal(code, 0, `exit code (null: ended by the signal itself)\n${service.stdout().slice(-2000)}${service.stderr().slice(-2000)}`);
  assert.match(service.stdout(), /"signal":"SIGTERM".*"msg":"signal received"/);
});
