import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import type { Database } from '../../src/db/connect.js';
import { testDatabases } from '../helpers/db.js';
import { holdFor } from '../helpers/wait.js';

const pglite = testDatabases().find((k) => k.name === 'pglite')!;
let d: Database;

before(async () => {
  d = await pglite.migrated();
});
after(async () => {
  await d.destroy();
});

test('PGlite transactions do not interleave: a rolled-back transaction leaves nothing behind', async () => {
  await sql`create table t (n int)`.execute(d.db);
  const events: string[] = [];
  const slow = d.db.transaction().execute(async (trx) => {
    events.push('a:begin');
    await sql`insert into t values (1)`.execute(trx);
    await holdFor(50, 'transaction a stays open while b is issued: b must not begin until a ends');
    events.push('a:end');
    throw new Error('roll back');
  });
  // Started while the first transaction is open: on one PGlite session it must wait for it.
  const other = d.db.transaction().execute(async (trx) => {
    events.push('b:begin');
    await sql`insert into t values (2)`.execute(trx);
    events.push('b:end');
  });
  await assert.rejects(slow, /roll back/);
  await other;
  assert.deepEqual(events, ['a:begin', 'a:end', 'b:begin', 'b:end']);
  const rows = await sql<{ n: number }>`select n from t order by n`.execute(d.db);
  assert.deepEqual(rows.rows, [{ n: 2 }], 'the rolled-back insert is gone, the other committed');
});

test('statements outside transactions wait for an open transaction', async () => {
  let inTx = false;
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const tx = d.db.transaction().execute(async (trx) => {
    inTx = true;
    opened();
    await holdFor(30, 'the transaction stays open while the plain query is issued: it must wait for the end');
    await sql`select 1`.execute(trx);
    inTx = false;
  });
  // Once the transaction is open (not after a guessed delay, which a busy machine can outrun).
  await open;
  await sql`select 1`.execute(d.db);
  assert.equal(inTx, false, 'the plain query ran only after the transaction finished');
  await tx;
});
