/**
 * `npm run train [-- --l2 1,0.1 ...]`: one training run, with progress on stdout. On PostgreSQL, or on an
 * embedded database no server holds, it trains in this process; beside a server that holds the embedded
 * database (or with --server URL) it starts the run through that server's API and follows it there.
 * Exits 0 when the run ends promoted, rejected, skipped, held or superseded, 1 when it fails, so it can be
 * a Kubernetes CronJob next to replicas that run with TRAINING_SCHEDULER=false.
 */
import { systemClock } from '../clock.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { runningServers } from '../db/data-dir-lock.js';
import { migrateToLatest } from '../db/migrator.js';
import { createLogger } from '../logger.js';
import { getActiveHead, getBackbone } from '../models/head.repository.js';
import { loadPolicies } from '../policy/loader.js';
import { PolicyRegistry } from '../policy/registry.js';
import { hyperparameterOverrides } from '../policy/schema.js';
import { TrainingService } from '../tuning/training.service.js';
import { loadModelDir } from '../inference/model-dir.js';
import { ModelRuntime } from '../inference/runtime.js';
import { callService, resolveTarget, SERVER_OPTION, SERVER_USAGE, ServiceError } from './service.js';

/** Flags, as the policy's training keys with dashes; searched ones take a comma-separated list. */
const NUMBERS = ['label_smoothing', 'rpo_alpha', 'folds', 'min_pairs', 'seed'] as const;
const SEARCHED = ['l2'] as const;
const CHOICES = ['loss', 'class_weights', 'pairs', 'calibration'] as const;
const BOOLEANS = ['lexical', 'select'] as const;
const flag = (k: string) => k.replace(/_/g, '-');

const USAGE = `usage: npm run train -- [options]
Runs one training run in this process (the policy's training settings, with these overrides), prints
progress and the gate's checks, and exits 0 unless the run failed.
  --force                         train even if no label arrived since the last run
  --loss sigmoid|ipo|hinge|robust --class-weights none|balanced --pairs all|disagreements --calibration platt|none
  --lexical true|false --select true|false
  --beta auto|X[,Y,...]            (DPO's β: auto chooses it per category with the calibration; a list is searched)
${SEARCHED.map((k) => `  --${flag(k)} X[,Y,...]`).join('\n')}   (a list is searched by cross-validation)
${NUMBERS.map((k) => `  --${flag(k)} X`).join('\n')}
${SERVER_USAGE}
  --help`;

interface Flags {
  overrides: Record<string, unknown>;
  force: boolean;
  server: string | undefined;
}

function parseFlags(argv: string[]): Flags | { exit: number } {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h' },
        force: { type: 'boolean' },
        beta: { type: 'string' },
        ...SERVER_OPTION,
        ...Object.fromEntries([...NUMBERS, ...SEARCHED, ...CHOICES, ...BOOLEANS].map((k) => [flag(k), { type: 'string' as const }])),
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`modtune train: ${(err as Error).message}\n${USAGE}\n`);
    return { exit: 2 };
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return { exit: 0 };
  }
  const raw: Record<string, unknown> = {};
  for (const k of CHOICES) if (values[flag(k)] !== undefined) raw[k] = values[flag(k)];
  for (const k of NUMBERS) if (values[flag(k)] !== undefined) raw[k] = Number(values[flag(k)]);
  for (const k of SEARCHED) if (values[flag(k)] !== undefined) raw[k] = String(values[flag(k)]).split(',').map(Number);
  for (const k of BOOLEANS) if (values[k] !== undefined) raw[k] = values[k] === 'true' ? true : values[k] === 'false' ? false : values[k];
  if (values.beta !== undefined) raw.beta = values.beta === 'auto' ? 'auto' : String(values.beta).split(',').map(Number);
  const overrides = hyperparameterOverrides.strict().safeParse(raw);
  if (!overrides.success) {
    process.stderr.write(`modtune train: ${overrides.error.issues.map((i) => `--${flag(String(i.path[0]))}: ${i.message}`).join('; ')}\n`);
    return { exit: 2 };
  }
  return { overrides: overrides.data, force: values.force === true, server: values.server as string | undefined };
}

type Gate = { passed: boolean; checks: { check: string; passed: boolean; detail: string }[] } | null;

function printOutcome(gate: Gate, outcome: string, error: string | null): void {
  for (const c of gate?.checks ?? []) process.stdout.write(`  ${c.passed ? 'pass' : 'FAIL'}  ${c.check}: ${c.detail}\n`);
  // The run's error often starts with its outcome ("rejected: …"): say it once.
  const why = error?.startsWith(`${outcome}: `) ? error.slice(outcome.length + 2) : error;
  process.stdout.write(`outcome: ${outcome}${why ? ` (${why})` : ''}\n`);
}

const FINAL = new Set(['promoted', 'rejected', 'skipped', 'failed', 'held', 'superseded']);

interface RunView {
  id: string;
  status: string;
  error: string | null;
  gate: Gate;
  data_snapshot: { settled_labels?: number; pairs?: number; eval_items?: number } | null;
}

/** The run through the server's API: start it, then follow its status until it ends. */
async function trainOnServer(target: { url: string; key: string; why: string }, flags: Flags): Promise<number> {
  process.stdout.write(`${target.why}: starting the run through ${target.url}\n`);
  const body = { ...(Object.keys(flags.overrides).length ? { hyperparameters: flags.overrides } : {}), ...(flags.force ? { force: true } : {}) };
  const { id } = await callService<{ id: string }>(target, 'POST', '/v1/training/runs', body);
  process.stdout.write(`training run ${id}\n`);
  const started = systemClock.now();
  let last = '';
  let snapshotShown = false;
  for (;;) {
    const run = await callService<RunView>(target, 'GET', `/v1/training/runs/${id}`);
    const at = `[${((systemClock.now() - started) / 1000).toFixed(1)}s]`;
    if (run.status !== last) {
      process.stdout.write(`${at} ${run.status}\n`);
      last = run.status;
    }
    if (run.data_snapshot && !snapshotShown) {
      const d = run.data_snapshot;
      process.stdout.write(`${at} snapshot: ${d.settled_labels ?? '?'} settled labels, ${d.pairs ?? '?'} train pairs, ${d.eval_items ?? '?'} eval items\n`);
      snapshotShown = true;
    }
    if (FINAL.has(run.status)) {
      printOutcome(run.gate, run.status, run.error);
      return run.status === 'failed' ? 1 : 0;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** A path as a shell word: as it is when it needs no quoting, else in single quotes. */
const shellWord = (s: string) => (/^[\w./:@+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * Where to train instead when DATA_DIR is not the database the user meant: the modtune servers running on
 * this machine on an embedded database elsewhere (server-registry.ts), each with the command that trains
 * through it; '' when there are none (or the service runs on PostgreSQL, which registers nothing).
 */
async function elsewhere(dataDir: string): Promise<string> {
  const here = path.resolve(dataDir);
  const servers = (await runningServers()).filter((s) => s.dataDir !== here);
  if (servers.length === 0) return '';
  const one = servers.length === 1;
  return (
    `${one ? 'A modtune server is' : `${servers.length} modtune servers are`} running on this machine with ${one ? 'its database' : 'their databases'} elsewhere; ` +
    `train through ${one ? 'it' : 'one'} with its DATA_DIR and one of its admin keys:\n` +
    servers.map((s) => `  ${s.url} (pid ${s.pid}), database in ${s.dataDir}:\n    DATA_DIR=${shellWord(s.dataDir)} MODTUNE_ADMIN_KEY=<its admin key> npm run train\n`).join('') +
    `(that starts the run through the server's admin API, as POST <url>/v1/training/runs does: see the README; ` +
    `with the server stopped, DATA_DIR=<its directory> npm run train trains in this process)\n`
  );
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv);
  if ('exit' in parsed) return parsed.exit;
  const config = loadConfigOrReport('modtune train');
  if (!config) return 2;
  const target = await resolveTarget(config, parsed.server);
  if (target.kind === 'refuse') {
    process.stderr.write(`modtune train: ${target.message}\n`);
    return 1;
  }
  if (target.kind === 'server') {
    try {
      return await trainOnServer(target, parsed);
    } catch (err) {
      process.stderr.write(`modtune train: ${err instanceof ServiceError ? '' : 'failed: '}${(err as Error).message}\n`);
      return 1;
    }
  }

  const logger = createLogger(config.log.level === 'info' ? 'warn' : config.log.level);
  // An embedded database is DATA_DIR/pglite (connect.ts); an empty or missing directory holds none, and
  // training here would only create one without a model.
  if (!config.database.url && !existsSync(path.join(config.database.dataDir, 'pglite', 'PG_VERSION'))) {
    const others = await elsewhere(config.database.dataDir);
    process.stderr.write(
      others
        ? `modtune train: there is no database in ${config.database.dataDir} (DATA_DIR). ${others}`
        : `modtune train: there is no database in ${config.database.dataDir} (DATA_DIR): start the service first (npm start), ` +
            'or run this with the DATA_DIR (or DATABASE_URL) the service uses\n',
    );
    return 1;
  }
  process.stdout.write(`opening the database (${config.database.url ? 'DATABASE_URL' : config.database.dataDir})…\n`);
  const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, poolSize: 4, logger, command: 'npm run train' });
  try {
    await migrateToLatest(database.db);
    const policies = new PolicyRegistry(await loadPolicies(config.policy.dir), config.policy.defaultName);
    await policies.record(database.db);
    const active = await getActiveHead(database.db);
    if (!active) {
      const others = config.database.url ? '' : await elsewhere(config.database.dataDir);
      process.stderr.write(`modtune train: ${database.location} has no active head yet; start the service once on it so it registers its model\n${others}`);
      return 1;
    }
    const backbone = (await getBackbone(database.db, active.backboneId))!;
    // Items scored by an earlier backbone need features from the active one: start its runtime if so.
    let runtime: ModelRuntime | null = null;
    const training = new TrainingService(database, policies, logger, {
      embed: async (backboneId, inputs) => {
        if (!runtime) {
          const b = (await getBackbone(database.db, backboneId))!;
          process.stdout.write(`computing features on backbone '${b.name}' for items another backbone scored\n`);
          runtime = await ModelRuntime.start(await loadModelDir(b.path), { ...config.inference, workers: 1 }, logger);
        }
        return runtime.embed(inputs);
      },
    });
    await training.recoverAbandonedRuns();
    const runId = (await training.createRun('cli', { hyperparameters: parsed.overrides, force: parsed.force }))!;
    process.stdout.write(`training run ${runId} (active head v${active.version}, backbone ${backbone.name})\n`);
    const started = systemClock.now();
    const outcome = await training.execute(runId, (e) => process.stdout.write(`[${((systemClock.now() - started) / 1000).toFixed(1)}s] ${e.phase}: ${e.message}\n`));
    const run = await training.getRun(runId);
    printOutcome(run.gate as Gate, outcome, run.error);
    await (runtime as ModelRuntime | null)?.stop();
    return outcome === 'failed' ? 1 : 0;
  } catch (err) {
    process.stderr.write(`modtune train: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await database.destroy();
  }
}

process.exitCode = await main(process.argv.slice(2));
