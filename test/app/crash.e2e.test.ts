/**
 * Durability under SIGKILL. Moderation clients and a moderator work against the real server process
 * while it is killed with SIGKILL at random moments (seeded) and restarted on the same data, cycle
 * after cycle. Whatever the service acknowledged with a 2xx must be in the database afterwards, intact:
 * every decision (scores as sent, its item and text, its feature vector at the backbone's width) and
 * every verdict (its review row, with the labels submitted). Work that was in flight at the kill and
 * never acknowledged may or may not be there; only acknowledgements are promises.
 *
 * PGlite on disk always; PostgreSQL when TEST_DATABASE_URL is set (a fresh database per run).
 * CRASH_SEED picks the kill schedule and the texts; CRASH_CYCLES the number of kills (default 10).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { mulberry32 } from '../../src/random.js';
import { quietLogger, seedEmbeddedDatabase } from '../helpers/db.js';
import { makeTexts } from '../helpers/feedback.js';
import { startService, type ServiceProcess } from '../helpers/process.js';
import { reviewPolicyYaml } from '../helpers/policies.js';
import { serverDatabaseKinds } from '../helpers/scratch-database.js';
import { processWorkspace, tinyServiceEnv, type ProcessWorkspace } from '../helpers/service-dir.js';
import { TINY_MODEL_TEXTS } from '../helpers/tiny-model.js';
import { holdFor, waitFor } from '../helpers/wait.js';
import { categoryScoresOf } from '../../src/db/stored-columns.js';

const ADMIN = 'mt_crash_admin_key_0123456789abcdefghijk';
const SEED = Number(process.env.CRASH_SEED ?? 20240611);
const CYCLES = Number(process.env.CRASH_CYCLES ?? 10);
const MODERATION_CLIENTS = 4;
const POLICY = reviewPolicyYaml();
const kinds = serverDatabaseKinds();

interface AckedDecision {
  decisionId: string;
  itemId: string;
  text: string;
  scores: Record<string, number>;
  cycle: number;
  /** When the 2xx arrived (ms since the epoch), to say how close to a kill a lost one was. */
  at: number;
}

interface AckedVerdict {
  reviewId: string;
  taskId: string;
  labels: Record<string, boolean>;
  cycle: number;
  at: number;
}

interface ModerateResponse {
  results: { decision_id: string; item_id: string; category_scores: Record<string, number>; review_task_id: string | null }[];
}

interface ClaimResponse {
  data: { id: string; policy: { categories: string[] } }[];
}

/** The running server, or null while it is down; clients read it before every request. */
class Target {
  server: ServiceProcess | null = null;
  cycle = 0;
  done = false;
  statuses = new Map<string, number>();
  count(what: string): void {
    this.statuses.set(what, (this.statuses.get(what) ?? 0) + 1);
  }
}

async function call(target: Target, method: string, url: string, key: string, body?: unknown): Promise<{ status: number; body: any; cycle: number } | null> {
  const server = target.server;
  if (!server) return null;
  const cycle = target.cycle;
  try {
    const res = await fetch(`${server.baseUrl}${url}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    target.count(String(res.status));
    return { status: res.status, body: text ? JSON.parse(text) : null, cycle };
  } catch {
    // The server died under this request (or before it): no acknowledgement, nothing promised.
    target.count('network error');
    return null;
  }
}

async function moderationClient(target: Target, key: string, texts: string[], seed: number, acked: AckedDecision[]): Promise<void> {
  const rng = mulberry32(seed);
  while (!target.done) {
    if (!target.server) {
      await waitFor(() => target.server !== null || target.done, 'the restarted server', 120_000, 20);
      continue;
    }
    const n = 1 + Math.floor(rng() * 6);
    const input = Array.from({ length: n }, () => texts[Math.floor(rng() * texts.length)]);
    const r = await call(target, 'POST', '/v1/moderate', key, { input });
    if (!r) {
      await holdFor(20, 'a client backs off after a network error before it tries again');
      continue;
    }
    if (r.status >= 200 && r.status < 300) {
      const at = Date.now();
      (r.body as ModerateResponse).results.forEach((x, i) =>
        acked.push({ decisionId: x.decision_id, itemId: x.item_id, text: input[i], scores: x.category_scores, cycle: r.cycle, at }),
      );
    }
  }
}

async function moderatorClient(target: Target, key: string, seed: number, acked: AckedVerdict[]): Promise<void> {
  const rng = mulberry32(seed);
  while (!target.done) {
    const claimed = await call(target, 'POST', '/v1/review/claim', key, { limit: 5 });
    if (!claimed || claimed.status !== 200 || (claimed.body as ClaimResponse).data.length === 0) {
      await holdFor(claimed ? 50 : 20, 'a moderator paces its claims while the queue is empty or the server down');
      continue;
    }
    for (const task of (claimed.body as ClaimResponse).data) {
      if (target.done) break;
      const labels = Object.fromEntries(task.policy.categories.map((c) => [c, rng() < 0.5]));
      const r = await call(target, 'POST', `/v1/review/tasks/${task.id}/verdict`, key, { categories: labels, notes: 'crash test' });
      if (!r) break;
      if (r.status >= 200 && r.status < 300) acked.push({ reviewId: r.body.review_id, taskId: task.id, labels, cycle: r.cycle, at: Date.now() });
    }
  }
}

function chunks<T>(a: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += size) out.push(a.slice(i, i + size));
  return out;
}

for (const kind of kinds) {
  describe(`acknowledged work survives SIGKILL (${kind.name})`, { skip: kind.skip }, () => {
    let dir: string;
    let dbUrl: string | undefined;
    let env: Record<string, string>;
    let workspace: ProcessWorkspace | undefined;
    const started: ServiceProcess[] = [];

    before(async () => {
      workspace = await processWorkspace('reliability-crash', POLICY, kind.url);
      ({ dir, dbUrl } = workspace);
      if (!dbUrl) await seedEmbeddedDatabase(path.join(dir, 'data'));
      env = await tinyServiceEnv(path.join(dir, 'data'), ADMIN, {
        DATABASE_URL: dbUrl,
        POLICY_DIR: path.join(dir, 'policies'),
        RATE_LIMIT_PER_SECOND: '0',
        TRAINING_SCHEDULER: 'false',
        EXECUTION_PROVIDERS: 'cpu',
        LOG_LEVEL: 'info',
      });
    });

    after(async () => {
      for (const s of started) await s.stop('SIGKILL');
      await workspace?.remove();
    });

    test(`${CYCLES} SIGKILLs under load: every acknowledged decision and verdict is stored intact`, { timeout: 240_000 }, async (t) => {
      const rng = mulberry32(SEED);
      const texts = [...TINY_MODEL_TEXTS, ...(await makeTexts(300, SEED)).map((x) => x.text)];
      const target = new Target();
      const start = async (): Promise<ServiceProcess> => {
        const s = await startService(env, { timeoutMs: 60_000 });
        started.push(s);
        return s;
      };

      // Keys for the clients, made before the first kill.
      const first = await start();
      const mkKey = async (role: string): Promise<string> => {
        const r = await fetch(`${first.baseUrl}/v1/admin/api-keys`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: `crash-${role}`, role }),
        });
        assert.equal(r.status, 201, await r.clone().text());
        return ((await r.json()) as { key: string }).key;
      };
      const clientKey = await mkKey('client');
      const moderatorKey = await mkKey('moderator');

      const decisions: AckedDecision[] = [];
      const verdicts: AckedVerdict[] = [];
      const clients = [
        ...Array.from({ length: MODERATION_CLIENTS }, (_, i) => moderationClient(target, clientKey, texts, SEED + 1 + i, decisions)),
        moderatorClient(target, moderatorKey, SEED + 100, verdicts),
      ];

      const kills: number[] = [];
      const restartMs: number[] = [];
      let server = first;
      try {
        for (let cycle = 1; cycle <= CYCLES; cycle++) {
          target.cycle = cycle;
          target.server = server;
          const delay = 200 + Math.floor(rng() * 1300);
          await holdFor(delay, 'the server runs under load for a random while before the kill');
          // The random hold sets when the kill lands; on a busy machine it can end before the load has done
          // anything (a suite at concurrency 3 got 4 verdicts in 10 cycles), so the kill also waits for this
          // cycle's share of acknowledged work: a crash with nothing acknowledged before it tests nothing.
          await waitFor(
            () => decisions.filter((d) => d.cycle === cycle).length >= 5 && verdicts.some((v) => v.cycle === cycle),
            `cycle ${cycle}: five decisions and a verdict acknowledged before the kill`,
            60_000,
          );
          assert.equal(server.child.exitCode, null, `the server exited by itself in cycle ${cycle}:\n${server.tail()}`);
          server.child.kill('SIGKILL');
          kills.push(Date.now());
          const exit = await server.exited;
          target.server = null;
          assert.equal(exit.signal, 'SIGKILL', `cycle ${cycle}: the server ended with ${JSON.stringify(exit)}, not by our SIGKILL:\n${server.tail()}`);
          const t0 = Date.now();
          server = await start();
          restartMs.push(Date.now() - t0);
        }
        // A last stretch of load on the survivor, so the final state has post-crash work too.
        target.cycle = CYCLES + 1;
        target.server = server;
        await holdFor(500, 'a last stretch of load on the survivor');
      } finally {
        target.done = true;
        await Promise.all(clients);
        target.server = null;
      }
      const stopped = await server.stop('SIGTERM');
      assert.equal(stopped.code, 0, `the last server did not shut down cleanly:\n${server.tail()}`);

      // A clean restart after all that: the service comes up and serves what it acknowledged.
      const final = await start();
      const sample = decisions.filter((_, i) => i % Math.max(1, Math.floor(decisions.length / 20)) === 0);
      const httpMismatches: string[] = [];
      for (const d of sample) {
        const r = await fetch(`${final.baseUrl}/v1/decisions/${d.decisionId}`, { headers: { Authorization: `Bearer ${clientKey}` } });
        const body = (await r.json()) as { category_scores?: unknown };
        if (r.status !== 200) httpMismatches.push(`GET /v1/decisions/${d.decisionId} (cycle ${d.cycle}): ${r.status}`);
        else if (!isDeepStrictEqual(body.category_scores, d.scores)) httpMismatches.push(`GET /v1/decisions/${d.decisionId} (cycle ${d.cycle}): other scores`);
      }
      assert.equal((await final.stop('SIGTERM')).code, 0, `the final server did not shut down cleanly:\n${final.tail()}`);

      // Then the database itself (PGlite serves one process: the server is gone by now).
      const database: Database = await openDatabase({ url: dbUrl, dataDir: path.join(dir, 'data'), logger: quietLogger() });
      const lostDecisions: string[] = [];
      const lostVerdicts: string[] = [];
      const nearestKill = (at: number) => {
        const after = kills.filter((k) => k >= at);
        return after.length ? `${after[0] - at} ms before kill ${kills.indexOf(after[0]) + 1}` : 'after the last kill';
      };
      try {
        for (const chunk of chunks(decisions, 500)) {
          const rows = await database.db
            .selectFrom('decisions as d')
            .leftJoin('content_items as i', 'i.id', 'd.item_id')
            .innerJoin('backbones as b', 'b.id', 'd.backbone_id')
            .select(['d.id', 'd.item_id', categoryScoresOf('d').as('category_scores'), 'd.features', 'i.id as item_row', 'i.text', 'b.feature_dim'])
            .where('d.id', 'in', chunk.map((d) => d.decisionId))
            .execute();
          const byId = new Map(rows.map((r) => [r.id, r]));
          for (const d of chunk) {
            const row = byId.get(d.decisionId);
            const where = `decision ${d.decisionId} (cycle ${d.cycle}, acknowledged ${nearestKill(d.at)})`;
            if (!row) {
              lostDecisions.push(where);
              continue;
            }
            assert.equal(row.item_id, d.itemId, `${where}: item id`);
            assert.ok(row.item_row, `${where}: its content item is missing`);
            assert.equal(row.text, d.text, `${where}: the stored text differs`);
            assert.deepEqual(row.category_scores, d.scores, `${where}: stored scores differ from the acknowledged ones`);
            assert.equal(row.features?.length, row.feature_dim * 4, `${where}: features are ${row.features?.length} bytes, want ${row.feature_dim} float32`);
            const f = new Float32Array(new Uint8Array(row.features).buffer);
            assert.ok(f.every(Number.isFinite) && f.some((x) => x !== 0), `${where}: features are not a real vector`);
          }
        }
        for (const chunk of chunks(verdicts, 500)) {
          const rows = await database.db.selectFrom('reviews').select(['id', 'task_id', 'labels']).where('id', 'in', chunk.map((v) => v.reviewId)).execute();
          const byId = new Map(rows.map((r) => [r.id, r]));
          for (const v of chunk) {
            const row = byId.get(v.reviewId);
            const where = `review ${v.reviewId} (cycle ${v.cycle}, acknowledged ${nearestKill(v.at)})`;
            if (!row) {
              lostVerdicts.push(where);
              continue;
            }
            assert.equal(row.task_id, v.taskId, `${where}: task id`);
            assert.deepEqual(row.labels, v.labels, `${where}: stored labels differ from the submitted ones`);
          }
        }
      } finally {
        await database.destroy();
      }

      const statuses = [...target.statuses].map(([k, v]) => `${k}: ${v}`).join(', ');
      const mean = (a: number[]) => Math.round(a.reduce((s, x) => s + x, 0) / Math.max(1, a.length));
      t.diagnostic(`${kind.name}: seed ${SEED}, ${kills.length} SIGKILL/restart cycles (restart to listening: mean ${mean(restartMs)} ms, max ${Math.max(...restartMs)} ms)`);
      t.diagnostic(`${kind.name}: acknowledged ${decisions.length} decisions, found ${decisions.length - lostDecisions.length}, lost ${lostDecisions.length}`);
      t.diagnostic(`${kind.name}: acknowledged ${verdicts.length} verdicts, found ${verdicts.length - lostVerdicts.length}, lost ${lostVerdicts.length}`);
      t.diagnostic(`${kind.name}: responses ${statuses}`);
      t.diagnostic(`${kind.name}: after a clean restart, ${sample.length - httpMismatches.length}/${sample.length} sampled decisions served intact over HTTP`);
      assert.equal(lostDecisions.length, 0, `${lostDecisions.length} acknowledged decisions are missing, e.g.\n${lostDecisions.slice(0, 10).join('\n')}`);
      assert.equal(lostVerdicts.length, 0, `${lostVerdicts.length} acknowledged verdicts are missing, e.g.\n${lostVerdicts.slice(0, 10).join('\n')}`);
      assert.equal(target.statuses.get('500') ?? 0, 0, `internal errors during the run (${statuses})`);
      assert.equal(httpMismatches.length, 0, `acknowledged decisions as served after the clean restart:\n${httpMismatches.join('\n')}`);
    });
  });
}
