/**
 * A working directory for the real service and its CLIs, as a user sets one up from the README: the tiny
 * model as models/default (imports land beside it), a review policy in policies/ (with the label-maps
 * folder shipped label maps live in), and a label map file; `env` is the configuration that points the
 * service there. And `npm`, to run the README's commands in the repository.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { reviewPolicyYaml } from './policies.js';
import { baseEnv } from './process.js';
import { createScratchDatabase } from './scratch-database.js';
import { tinyModelDir } from './tiny-model.js';
import { REPO } from './repo.js';

export interface ServiceDir {
  dir: string;
  /** The label map file (labels.yaml) for `--label-map`. */
  labelMap: string;
  /**
   * The service's environment: this directory, one inference worker, port 0, `key` as the admin key, batch
   * calibration off (NO_CALIBRATION); `extra` on top (undefined: left out).
   */
  env(extra?: Record<string, string | undefined>): Record<string, string>;
}

/** A fresh directory under the OS temp dir (named after `tag`); the caller removes `dir` when done. */
export async function serviceDir(tag: string, opts: { key: string; labelMap: string }): Promise<ServiceDir> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `modtune-${tag}-`));
  await fs.cp(await tinyModelDir(), path.join(dir, 'models', 'default'), { recursive: true });
  await fs.mkdir(path.join(dir, 'policies', 'label-maps'), { recursive: true });
  // Three categories, all of which an imported model's labels can feed (the shipped policy has 13).
  await fs.writeFile(path.join(dir, 'policies', 'default.yaml'), reviewPolicyYaml({ audit_rate: 0.01 }));
  const labelMap = path.join(dir, 'labels.yaml');
  await fs.writeFile(labelMap, opts.labelMap);
  return {
    dir,
    labelMap,
    env: (extra = {}) =>
      baseEnv({
        DATA_DIR: path.join(dir, 'data'),
        MODEL_DIR: path.join(dir, 'models', 'default'),
        MODEL_AUTO_BUILD: 'false',
        POLICY_DIR: path.join(dir, 'policies'),
        PORT: '0',
        INFERENCE_WORKERS: '1',
        ORT_THREADS: '1',
        MODTUNE_ADMIN_KEY: opts.key,
        ONNXRUNTIME_NODE_INSTALL: 'skip',
        ...NO_CALIBRATION,
        ...extra,
      }),
  };
}

/**
 * Batch calibration off for the service processes the tests start, as for the in-process apps
 * (helpers/app.ts): it measures batches for about 0.6 s at each start (about 0.8 CPU-seconds with the tiny
 * model, whose batches cost next to nothing), and most of these tests start the service many times for
 * something else (SIGKILL, SIGTERM, pulls). Calibration is tested in test/inference/ and in-process
 * (test/http/health.medium.test.ts); the tests of a start as a user meets it (test/app/process.e2e.test.ts,
 * the README flow) keep it on by passing `BATCH_CALIBRATE: undefined`.
 */
export const NO_CALIBRATION = { BATCH_CALIBRATE: 'false' } as const;

/**
 * The real service's environment on the tiny model: its data in `dataDir`, one inference worker of one
 * thread, port 0, `adminKey` as the admin key (undefined: none, so a first start makes one), batch
 * calibration off (NO_CALIBRATION); `extra` on top (undefined: left out).
 */
export async function tinyServiceEnv(dataDir: string, adminKey: string | undefined, extra: Record<string, string | undefined> = {}): Promise<Record<string, string>> {
  return baseEnv({
    DATA_DIR: dataDir,
    MODEL_DIR: await tinyModelDir(),
    MODEL_AUTO_BUILD: 'false',
    PORT: '0',
    INFERENCE_WORKERS: '1',
    ORT_THREADS: '1',
    MODTUNE_ADMIN_KEY: adminKey,
    ...NO_CALIBRATION,
    ...extra,
  });
}

export interface ProcessWorkspace {
  /** A fresh directory under the OS temp dir with `policies/default.yaml`. */
  dir: string;
  /** A scratch database of its own on the PostgreSQL server, when one was given; else undefined (PGlite in `dir`). */
  dbUrl: string | undefined;
  /** Removes the directory and drops the scratch database. */
  remove(): Promise<void>;
}

/** Where a test runs real processes on one policy: a directory named after `tag`, and on PostgreSQL (`serverUrl`) a database named after it. */
export async function processWorkspace(tag: string, policyYaml: string, serverUrl: string | undefined): Promise<ProcessWorkspace> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `modtune-${tag}-`));
  await fs.mkdir(path.join(dir, 'policies'));
  await fs.writeFile(path.join(dir, 'policies', 'default.yaml'), policyYaml);
  const scratch = serverUrl ? await createScratchDatabase(serverUrl, `modtune_${tag.replaceAll('-', '_')}`) : undefined;
  return {
    dir,
    dbUrl: scratch?.url,
    async remove() {
      await fs.rm(dir, { recursive: true, force: true });
      await scratch?.drop();
    },
  };
}

export interface NpmDone {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm <args>` in the repository, as a user types it; resolves when it exits. */
export function npm(args: string[], env: Record<string, string>): Promise<NpmDone> {
  const child = spawn('npm', args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}
