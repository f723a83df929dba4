/**
 * `npm run bench:review [-- --moderators 1,10,50 --tasks 3000]`: review-queue throughput on PostgreSQL.
 * N moderators work concurrently (claim one task, submit a verdict, repeat) through the ReviewService
 * against a fresh database; prints verdicts per second and claim/verdict latency percentiles per N.
 * This measures the queue and the database, not HTTP. Needs BENCH_DATABASE_URL or TEST_DATABASE_URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { Principal } from '../src/auth/auth.service.js';
import { openDatabase, type Database } from '../src/db/connect.js';
import { packScores } from '../src/db/stored-columns.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { float32ToBytes } from '../src/inference/head.js';
import { createLogger } from '../src/logger.js';
import { parsePolicy } from '../src/policy/loader.js';
import { PolicyRegistry } from '../src/policy/registry.js';
import { ReviewService } from '../src/review/review.service.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';

const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!url) {
  console.error('bench:review needs PostgreSQL: set BENCH_DATABASE_URL (or TEST_DATABASE_URL), e.g. postgres://postgres@127.0.0.1:5432/test');
  process.exit(2);
}

const { values } = parseArgs({ options: { moderators: { type: 'string', default: '1,10,50' }, tasks: { type: 'string', default: '3000' }, pool: { type: 'string', default: '20' } } });
const counts = values.moderators!.split(',').map(Number);
const TASKS = Number(values.tasks);
const POOL = Number(values.pool);
const CATEGORIES = ['violence', 'harassment', 'hate'];

async function freshDatabase(): Promise<{ database: Database; drop: () => Promise<void> }> {
  const scratch = await createScratchDatabase(url!, 'modtune_bench_review');
  const database = await openDatabase({ url: scratch.url, dataDir: 'unused', poolSize: POOL, logger: createLogger('warn') });
  await migrateToLatest(database.db);
  return {
    database,
    drop: async () => {
      await database.destroy();
      await scratch.drop();
    },
  };
}

async function seed(database: Database, moderators: number): Promise<Principal[]> {
  const db = database.db;
  const backbone = uuidv7();
  const head = uuidv7();
  await db.insertInto('backbones').values({ id: backbone, name: 'bench', sha256: randomBytes(8).toString('hex'), path: '/dev/null', feature_dim: 4, labels: JSON.stringify(CATEGORIES), problem_type: 'multi_label', config: '{}' }).execute();
  await db.insertInto('head_versions').values({ id: head, backbone_id: backbone, version: 1, parent_id: null, status: 'active', source: 'bench', num_labels: 3, feature_dim: 4, weight: new Uint8Array(48), bias: new Uint8Array(12), training_run_id: null, promoted_at: null, retired_at: null }).execute();
  await db.insertInto('policy_versions').values({ name: 'default', version: 'bench', source: '', categories: CATEGORIES }).execute();
  const features = float32ToBytes(Float32Array.from([0.1, 0.2, 0.3, 0.4]));
  for (let i = 0; i < TASKS; i += 500) {
    const n = Math.min(500, TASKS - i);
    const items = Array.from({ length: n }, () => ({ item: uuidv7(), decision: uuidv7(), task: uuidv7() }));
    await db.insertInto('content_items').values(items.map((x, j) => ({ id: x.item, external_id: null, text: `bench text ${i + j}`, context: null, text_sha256: createHash('sha256').update(`bench text ${i + j}`).digest(), text_length: 10, client_key_id: null, text_purged_at: null }))).execute();
    await db
      .insertInto('decisions')
      .values(items.map((x) => ({ id: x.decision, item_id: x.item, request_id: 'bench', policy_name: 'default', policy_version: 'bench', backbone_id: backbone, head_id: head, action: 'review' as const, flagged: true, ...packScores(CATEGORIES, { violence: 0.6, harassment: 0.1, hate: 0.1 }, { violence: true, harassment: false, hate: false }, 'bench'), features, token_count: 3, truncated: false, client_key_id: null })))
      .execute();
    await db
      .insertInto('review_tasks')
      .values(items.map((x) => ({ id: x.task, item_id: x.item, decision_id: x.decision, reason: 'uncertain' as const, priority: 20, policy_name: 'default', policy_version: 'bench', categories: JSON.stringify(CATEGORIES), required_reviews: 1, lease_seconds: 600, leased_to: null, leased_at: null, lease_expires_at: null, appeal_reason: null, appealed_by: null, completed_at: null })))
      .execute();
  }
  const mods: Principal[] = [];
  for (let i = 0; i < moderators; i++) {
    const id = uuidv7();
    await db.insertInto('api_keys').values({ id, name: `mod ${i}`, role: 'moderator', prefix: 'mt_bench', key_hash: randomBytes(16).toString('hex'), created_by: null, expires_at: null, revoked_at: null }).execute();
    mods.push({ keyId: id, name: `mod ${i}`, role: 'moderator' });
  }
  return mods;
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;

async function run(n: number): Promise<{ n: number; perSecond: number; claim: number[]; verdict: number[] }> {
  const { database, drop } = await freshDatabase();
  try {
    const mods = await seed(database, n);
    const policy = parsePolicy('default', `categories:\n${CATEGORIES.map((c) => `  ${c}: { flag: 0.5 }`).join('\n')}\n`);
    const review = new ReviewService(database.db, new PolicyRegistry(new Map([['default', policy]]), 'default'));
    const claimMs: number[] = [];
    const verdictMs: number[] = [];
    let done = 0;
    const started = performance.now();
    await Promise.all(
      mods.map(async (m, k) => {
        for (;;) {
          let t = performance.now();
          const [task] = await review.claim(m, { limit: 1 }, 'bench');
          claimMs.push(performance.now() - t);
          if (!task) return;
          t = performance.now();
          await review.verdict(m, task.id, { categories: { violence: k % 2 === 0, harassment: false, hate: false } }, 'bench');
          verdictMs.push(performance.now() - t);
          done++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const left = await sql<{ n: number }>`select count(*) as n from review_tasks where status = 'open'`.execute(database.db);
    if (done !== TASKS || Number(left.rows[0].n) !== 0) throw new Error(`expected ${TASKS} verdicts, got ${done} (${left.rows[0].n} open)`);
    return { n, perSecond: done / seconds, claim: claimMs.sort((a, b) => a - b), verdict: verdictMs.sort((a, b) => a - b) };
  } finally {
    await drop();
  }
}

const results = [];
for (const n of counts) results.push(await run(n));
const f = (x: number) => x.toFixed(1).padStart(7);
console.log(`review queue on PostgreSQL, ${TASKS} tasks, pool ${POOL}, claim(limit 1) + verdict per task`);
console.log('moderators  verdicts/s   claim p50    p95    p99   verdict p50    p95    p99  (ms)');
for (const r of results) {
  console.log(
    `${String(r.n).padStart(10)}  ${f(r.perSecond)}     ${f(pct(r.claim, 50))}${f(pct(r.claim, 95))}${f(pct(r.claim, 99))}       ${f(pct(r.verdict, 50))}${f(pct(r.verdict, 95))}${f(pct(r.verdict, 99))}`,
  );
}
const base = results[0];
for (const r of results.slice(1)) console.log(`throughput ratio ${r.n} vs ${base.n} moderators: ${(r.perSecond / base.perSecond).toFixed(2)}×`);
