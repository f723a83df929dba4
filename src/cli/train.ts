/**
 * `npm run train [-- --epochs N ...]`: one training run, in this process, with progress on stdout.
 * Exits 0 when the run ends promoted, rejected or skipped, 1 when it fails, so it can be a Kubernetes
 * CronJob next to replicas that run with TRAINING_SCHEDULER=false.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrator.js';
import { createLogger } from '../logger.js';
import { getActiveHead, getBackbone } from '../models/head.repository.js';
import { loadPolicies } from '../policy/loader.js';
import { PolicyRegistry } from '../policy/registry.js';
import { hyperparameterOverrides } from '../policy/schema.js';
import { TrainingService } from '../tuning/training.service.js';
import { loadModelDir } from '../inference/model-dir.js';
import { ModelRuntime } from '../inference/runtime.js';

const NUMERIC = ['beta', 'label_smoothing', 'learning_rate', 'weight_decay', 'epochs', 'batch_size', 'anchor_weight', 'min_pairs', 'seed'] as const;

async function main(argv: string[]): Promise<number> {
  const config = loadConfigOrReport('modtune train');
  if (!config) return 2;
  const { values } = parseArgs({
    args: argv,
    options: { loss: { type: 'string' }, ...Object.fromEntries(NUMERIC.map((k) => [k.replace(/_/g, '-'), { type: 'string' as const }])) },
    strict: true,
  });
  const raw: Record<string, unknown> = {};
  if (values.loss) raw.loss = values.loss;
  for (const k of NUMERIC) {
    const v = (values as Record<string, string | undefined>)[k.replace(/_/g, '-')];
    if (v !== undefined) raw[k] = Number(v);
  }
  const overrides = hyperparameterOverrides.strict().safeParse(raw);
  if (!overrides.success) {
    process.stderr.write(`modtune train: ${overrides.error.issues.map((i) => `--${String(i.path[0]).replace(/_/g, '-')}: ${i.message}`).join('; ')}\n`);
    return 2;
  }

  const logger = createLogger(config.log.level === 'info' ? 'warn' : config.log.level);
  const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, poolSize: 4, logger });
  try {
    await migrateToLatest(database.db);
    const policies = new PolicyRegistry(await loadPolicies(config.policy.dir), config.policy.defaultName);
    await policies.record(database.db);
    const active = await getActiveHead(database.db);
    if (!active) {
      process.stderr.write('modtune train: there is no active head yet; start the service once so it registers its model\n');
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
    const runId = (await training.createRun('cli', { hyperparameters: overrides.data }))!;
    process.stdout.write(`training run ${runId} (active head v${active.version}, backbone ${backbone.name})\n`);
    const started = Date.now();
    const outcome = await training.execute(runId, (e) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${e.phase}: ${e.message}\n`));
    const run = await training.getRun(runId);
    const gate = run.gate as { passed: boolean; checks: { check: string; passed: boolean; detail: string }[] } | null;
    for (const c of gate?.checks ?? []) process.stdout.write(`  ${c.passed ? 'pass' : 'FAIL'}  ${c.check}: ${c.detail}\n`);
    process.stdout.write(`outcome: ${outcome}${run.error ? ` (${run.error})` : ''}\n`);
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
