/**
 * PostgreSQL at its connection limit ("too many connections for role", SQLSTATE 53300; the same class as
 * the server's own "sorry, too many clients already"): the service cannot get a connection, so a request
 * answers 503 `database_unavailable` with Retry-After, never 500 (which says the service has a bug); no
 * half-written decision is left behind; once connections are free again it answers without a restart.
 *
 * The limit is a role's CONNECTION LIMIT on the TEST_DATABASE_URL server (superusers are exempt, so the
 * service connects as a role of its own, made here and dropped after); skipped without PostgreSQL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { quietLogger } from '../helpers/db.js';
import { admin, createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';
import { waitFor } from '../helpers/wait.js';

const url = process.env.TEST_DATABASE_URL;

describe('PostgreSQL out of connections', { skip: url ? false : 'TEST_DATABASE_URL is not set: PostgreSQL-only test skipped' }, () => {
  const role = `modtune_connlimit_${process.pid}_${randomBytes(3).toString('hex')}`;
  let scratch: ScratchDatabase;
  let database: Database;
  let app: TestApp;
  const warnings: { msg: string; err?: string }[] = [];

  const backends = async () => Number((await admin(url!, (c) => c.query(`select count(*) as n from pg_stat_activity where usename = $1`, [role]))).rows[0].n);
  const decisions = async () => Number((await admin(scratch.url, (c) => c.query('select count(*) as n from decisions'))).rows[0].n);

  before(async () => {
    await admin(url!, (c) => c.query(`create role ${role} login connection limit 4`));
    scratch = await createScratchDatabase(url!, 'modtune_connlimit');
    await admin(url!, (c) => c.query(`alter database ${scratch.name} owner to ${role}`));
    const asRole = new URL(scratch.url);
    asRole.username = role;
    database = await openDatabase({ url: asRole.toString(), dataDir: 'unused', logger: quietLogger(), poolSize: 2 });
    await migrateToLatest(database.db);
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    app = await startTestApp({ database, logger });
  });
  after(async () => {
    await app?.close();
    await database?.destroy();
    await scratch?.drop();
    await admin(url!, (c) => c.query(`drop role if exists ${role}`));
  });

  test('no connection to be had: 503 database_unavailable with Retry-After, nothing stored; answers again once the limit lifts', async () => {
    const client = await app.key('client');
    const moderate = (text: string) => app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: text });
    assert.equal((await moderate('a first text, before the limit')).status, 200);
    assert.equal(await decisions(), 1);

    // No new connection for the role, and the ones the pool holds are ended.
    await admin(url!, async (c) => {
      await c.query(`alter role ${role} connection limit 0`);
      await c.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);
    });
    await waitFor(async () => (await backends()) === 0, "the role's connections to end", 10_000);

    // The pool first finds its connections dead (a 503 by that path too), then asks for new ones and is
    // refused by the limit: every answer is a 503, until one was refused by the limit.
    const refused = () => warnings.some((w) => w.msg === 'database unavailable' && /too many connections for role/.test(w.err ?? ''));
    await waitFor(
      async () => {
        const res = await moderate('a text while no connection can be had');
        assert.equal(res.status, 503, `answered ${res.status}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'database_unavailable');
        assert.equal(res.headers['retry-after'], '1');
        return refused();
      },
      'a request refused by the connection limit',
      10_000,
    );
    assert.equal(warnings.filter((w) => w.msg === 'unhandled error').length, 0, 'no request was a 500');

    // The limit lifts: the same process answers again, and only the two acknowledged decisions exist.
    await admin(url!, (c) => c.query(`alter role ${role} connection limit 4`));
    await waitFor(
      async () => {
        const res = await moderate('a text after the limit lifted');
        assert.ok(res.status === 200 || res.status === 503, `answered ${res.status}: ${JSON.stringify(res.body)}`);
        return res.status === 200;
      },
      'an answer after the limit lifted',
      5_000,
    );
    assert.equal(await decisions(), 2);
  });
});
