/**
 * Two server processes on one PostgreSQL: the scheduled run for a slot happens once (not once per
 * replica), and after its promotion both replicas serve the new head. No step waits a fixed time: each
 * polls for what it needs (a replica listening, the run finished, the other replica's log, the head).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { loadPolicies } from '../../src/policy/loader.js';
import { startTestApp } from '../helpers/app.js';
import { quietLogger } from '../helpers/db.js';
import { makeTexts, moderateAndReview } from '../helpers/feedback.js';
import { waitFor } from '../helpers/process.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';
import { tinyModelDir } from '../helpers/tiny-model.js';
import { NO_CALIBRATION } from '../helpers/service-dir.js';
import { ensureBuilt } from '../helpers/build.js';
import { REPO } from '../helpers/repo.js';

const url = process.env.TEST_DATABASE_URL;

function policyYaml(schedule: string): string {
  return [
    'categories:',
    '  violence: { flag: 0.5, block: 0.9 }',
    '  harassment: { flag: 0.5, block: 0.95 }',
    '  hate: { flag: 0.5, block: 0.95 }',
    'review: { audit_rate: 1, audit_reviews_per_task: 1 }',
    `training: { schedule: "${schedule}", timezone: UTC, l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 }`,
  ].join('\n');
}

describe('two replicas on one PostgreSQL', { skip: url ? false : 'TEST_DATABASE_URL is not set: PostgreSQL-only test skipped' }, () => {
  let scratch: ScratchDatabase;
  let dbUrl: string;
  let dir: string;
  let database: Database;
  const children: ChildProcess[] = [];

  interface Replica {
    child: ChildProcess;
    /** Its port, once it logs that it is listening. */
    port: number | null;
    out(): string;
  }

  async function startReplica(i: number): Promise<Replica> {
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: dbUrl,
        MODEL_DIR: await tinyModelDir(),
        MODEL_AUTO_BUILD: 'false',
        POLICY_DIR: path.join(dir, 'live'),
        PORT: '0',
        INFERENCE_WORKERS: '1',
        ...NO_CALIBRATION,
        ORT_THREADS: '1',
        HEAD_POLL_MS: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    const replica: Replica = { child, port: null, out: () => `[replica ${i}]\n${out}` };
    const onData = (d: Buffer) => {
      out += d;
      const line = replica.port === null ? out.split('\n').find((l) => l.includes('"listening"')) : undefined;
      if (line) replica.port = (JSON.parse(line) as { port: number }).port;
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    return replica;
  }

  /** True once every replica is listening, false if that has not happened within `ms`; throws if one exits. */
  async function listening(replicas: Replica[], ms: number): Promise<boolean> {
    const up = () => {
      const gone = replicas.find((r) => r.child.exitCode !== null);
      if (gone) throw new Error(`a replica exited:\n${gone.out()}`);
      return replicas.every((r) => r.port !== null);
    };
    return waitFor(up, 'both replicas to listen', Math.max(0, ms)).then(
      () => true,
      () => up(),
    );
  }

  async function kill(r: Replica): Promise<void> {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return;
    const exited = new Promise((resolve) => r.child.once('exit', resolve));
    r.child.kill('SIGKILL');
    await exited;
  }

  before(async () => {
    await ensureBuilt();
    scratch = await createScratchDatabase(url!, 'modtune_replicas');
    dbUrl = scratch.url;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-replicas-'));
    database = await openDatabase({ url: dbUrl, dataDir: 'unused', logger: quietLogger() });
    await migrateToLatest(database.db);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await database?.destroy();
    await fs.rm(dir, { recursive: true, force: true });
    await scratch?.drop();
  });

  test('one run per scheduled slot; both replicas switch to the promoted head', async (t) => {
    // Feedback first, from a server in this process (no schedule).
    await fs.mkdir(path.join(dir, 'seed'));
    await fs.writeFile(path.join(dir, 'seed', 'default.yaml'), policyYaml('0 3 * * *'));
    const seeder = await startTestApp({ database, policies: await loadPolicies(path.join(dir, 'seed')) });
    await moderateAndReview(seeder, await seeder.key('client'), await seeder.key('moderator'), await makeTexts(300, 1));
    await seeder.close();

    // Each replica reads its policy (and so the schedule) once, at start, so the slot is chosen before
    // they start: far enough ahead that both are listening well before it. Where start-up is slower than
    // that (a busy machine), both are stopped before the slot and started again with a slot twice as far.
    await fs.mkdir(path.join(dir, 'live'));
    let at!: Date;
    let replicas!: Replica[];
    for (let attempt = 1, marginMs = 20_000; ; attempt++, marginMs *= 2) {
      // Five-field cron has whole minutes (a six-field one, seconds first, is refused as a likely typo).
      at = new Date(Math.ceil((Date.now() + marginMs) / 60_000) * 60_000);
      await fs.writeFile(path.join(dir, 'live', 'default.yaml'), policyYaml(`${at.getUTCMinutes()} ${at.getUTCHours()} * * *`));
      replicas = await Promise.all([startReplica(0), startReplica(1)]);
      const lead = at.getTime() - 3_000 - Date.now();
      if (await listening(replicas, lead)) break;
      await Promise.all(replicas.map(kill));
      if (attempt === 3) assert.fail(`the replicas were not both listening within ${marginMs - 3_000} ms of their start:\n${replicas.map((r) => r.out()).join('\n')}`);
      t.diagnostic(`attempt ${attempt}: not both listening ${marginMs - 3_000} ms after start; again with a slot ${marginMs * 2} ms ahead`);
    }
    const headOf = async (r: Replica) => ((await (await fetch(`http://127.0.0.1:${r.port}/readyz`)).json()) as { model: { head_id: string } }).model.head_id;
    const initial = await Promise.all(replicas.map(headOf));
    assert.equal(initial[0], initial[1]);

    // The slot's run, once it has finished.
    type Run = { id: string; status: string; scheduled_for: Date | null; candidate_head_id: string | null; finished_at: Date | null; replica: string | null };
    const cronRuns = (): Promise<Run[]> =>
      database.db.selectFrom('training_runs').select(['id', 'status', 'scheduled_for', 'candidate_head_id', 'finished_at', 'replica']).where('trigger', '=', 'cron').execute();
    await waitFor(async () => (await cronRuns()).some((r) => r.finished_at !== null), 'the scheduled run to finish', at.getTime() - Date.now() + 120_000, 200);
    const [run] = await cronRuns();
    assert.equal(run.status, 'promoted');
    assert.equal(run.scheduled_for?.getTime(), at.getTime());
    // Both replicas fired for the slot: the one that lost the insert says so.
    await waitFor(() => replicas.some((r) => r.out().includes('another replica took this training slot')), 'the other replica to find the slot taken', 30_000, 100);
    const runs = await cronRuns();
    assert.equal(runs.length, 1, 'one run for the slot, though both replicas fired');

    // Both replicas serve the promoted head (each polls for it every HEAD_POLL_MS).
    const promotedAt = run.finished_at!.getTime();
    await waitFor(async () => (await Promise.all(replicas.map(headOf))).every((h) => h === run.candidate_head_id), 'both replicas to serve the promoted head', 30_000, 100);
    t.diagnostic(`both replicas served head ${run.candidate_head_id} ${Date.now() - promotedAt} ms after the run finished (run on ${run.replica})`);
  });
});
