/**
 * A modtune server for tests: the tiny starter model, a fresh migrated database (PGlite by default),
 * the shipped policies, a known admin key, silent logs. `listen: true` also opens a real port (for the
 * OpenAI SDK and other real HTTP clients); otherwise supertest drives the express app directly.
 */
import path from 'node:path';
import { after, before } from 'node:test';
import supertest from 'supertest';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/connect.js';
import type { Logger } from '../../src/logger.js';
import type { Policy } from '../../src/policy/policy.js';
import { ModtuneServer } from '../../src/server.js';
import { seededItemIds } from './ids.js';
import { quietLogger, testDatabases, type TestDatabaseKind } from './db.js';
import { tinyModelDir } from './tiny-model.js';

export const ADMIN_KEY = 'mt_test_admin_key_0123456789abcdefghijkl';

export interface TestApp {
  server: ModtuneServer;
  database: Database;
  request: ReturnType<typeof supertest>;
  baseUrl?: string;
  /** Creates a key with the given role through the admin API and returns it. */
  key(role: 'client' | 'moderator' | 'admin'): Promise<string>;
  close(): Promise<void>;
}

/** The train/eval split's salt in test apps (a real deployment makes a secret one). */
export const TEST_SPLIT_SALT = 'test-split-salt';

export async function startTestApp(
  opts: {
    db?: TestDatabaseKind;
    /** A database opened by the caller (kept open by close()). */
    database?: Database;
    env?: Record<string, string>;
    policies?: Map<string, Policy>;
    listen?: boolean;
    /** Logs go nowhere unless a test brings its own logger. */
    logger?: Logger;
    /** Review routing's random draws; by default never audits or samples blocks, so tests are deterministic. */
    random?: () => number;
    /** New item ids; by default seeded (helpers/ids.ts), so train/eval splits are the same every run. */
    itemIds?: () => string;
    /** The rate limiter's clock (ms); by default the real one. */
    rateLimitClock?: () => number;
  } = {},
): Promise<TestApp> {
  const database = opts.database ?? (await (opts.db ?? testDatabases()[0]).migrated());
  const ownsDatabase = !opts.database;
  const config = loadConfig({
    MODEL_DIR: await tinyModelDir(),
    MODEL_AUTO_BUILD: 'false',
    POLICY_DIR: path.resolve('policies'),
    MODTUNE_ADMIN_KEY: ADMIN_KEY,
    INFERENCE_WORKERS: '1',
    ORT_THREADS: '1',
    EXECUTION_PROVIDERS: 'cpu',
    PORT: '0',
    SHUTDOWN_TIMEOUT_MS: '2000',
    TRAINING_SCHEDULER: 'false',
    HEAD_POLL_MS: '250',
    // Calibration adds a few hundred ms to every start; the runtime tests and real processes cover it.
    BATCH_CALIBRATE: 'false',
    // A known split salt, so tests can tell which items land in the eval split (helpers/feedback.ts).
    SPLIT_SALT: TEST_SPLIT_SALT,
    ...opts.env,
  });
  let server: ModtuneServer;
  try {
    server = await ModtuneServer.create(config, {
      database,
      logger: opts.logger ?? quietLogger(),
      policies: opts.policies,
      random: opts.random ?? (() => 0.5),
      itemIds: opts.itemIds ?? seededItemIds(),
      rateLimitClock: opts.rateLimitClock,
    });
  } catch (err) {
    if (ownsDatabase) await database.destroy();
    throw err;
  }
  let baseUrl: string | undefined;
  if (opts.listen) {
    const addr = await server.start();
    baseUrl = `http://127.0.0.1:${addr.port}`;
  }
  const request = supertest(baseUrl ?? server.app);
  return {
    server,
    database,
    request,
    baseUrl,
    async key(role) {
      const res = await request
        .post('/v1/admin/api-keys')
        .set('Authorization', `Bearer ${ADMIN_KEY}`)
        .send({ name: `test ${role}`, role });
      if (res.status !== 201) throw new Error(`could not create a ${role} key: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.key as string;
    },
    async close() {
      await server.destroy();
      if (ownsDatabase) await database.destroy();
    },
  };
}

/** What a suite's tests share: the app, and a client and a moderator key made on it. */
export interface SuiteApp {
  app: TestApp;
  client: string;
  moderator: string;
}

/**
 * A test app for the describe block this is called in: started, with a client and a moderator key, in
 * before(); closed in after(). `ready` hands them over once made (the suite keeps them in its own
 * variables: `suiteApp(opts, (s) => ({ app, client, moderator } = s))`).
 */
export function suiteApp(opts: Parameters<typeof startTestApp>[0], ready: (s: SuiteApp) => void): void {
  let app: TestApp | undefined;
  before(async () => {
    app = await startTestApp(opts);
    ready({ app, client: await app.key('client'), moderator: await app.key('moderator') });
  });
  after(async () => {
    await app?.close();
  });
}
