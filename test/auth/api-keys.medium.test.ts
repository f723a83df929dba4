import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashKey } from '../../src/auth/keys.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { auditEvents } from '../helpers/factories.js';

for (const kind of testDatabases()) {
  describe(`admin API keys (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ db: kind });
    });
    after(async () => {
      await app?.close();
    });
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

    test('a created key is shown once, stored only as a hash, works for its role, and is audited', async () => {
      const res = await app.request.post('/v1/admin/api-keys').set(admin).send({ name: 'platform A', role: 'client' });
      assert.equal(res.status, 201);
      assert.match(res.body.key, /^mt_[A-Za-z0-9_-]{43}$/);
      assert.equal(res.body.role, 'client');
      assert.equal(res.body.prefix, res.body.key.slice(0, 9));
      const row = await app.database.db.selectFrom('api_keys').selectAll().where('id', '=', res.body.id).executeTakeFirstOrThrow();
      assert.equal(row.key_hash, hashKey(res.body.key));
      assert.ok(!JSON.stringify(row).includes(res.body.key), 'the key itself is not stored');
      const listed = await app.request.get('/v1/admin/api-keys').set(admin);
      assert.ok(listed.body.data.some((k: { id: string; key?: string }) => k.id === res.body.id && k.key === undefined));
      const use = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${res.body.key}`).send({ input: 'hi' });
      assert.equal(use.status, 200);
      const audit = await auditEvents(app.database.db, { subjectId: res.body.id });
      assert.deepEqual(audit.map((a) => a.action), ['api_key.created']);
      assert.equal(audit[0].actor, 'bootstrap admin (MODTUNE_ADMIN_KEY)');
    });

    test('a revoked key stops working at once; an expired key is refused', async () => {
      const created = await app.request.post('/v1/admin/api-keys').set(admin).send({ name: 'short-lived', role: 'client' });
      const key = created.body.key as string;
      assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'hi' })).status, 200);
      const revoked = await app.request.delete(`/v1/admin/api-keys/${created.body.id}`).set(admin);
      assert.equal(revoked.status, 200);
      assert.ok(revoked.body.revoked_at);
      const after = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'hi' });
      assert.equal(after.status, 401);
      assert.match(after.body.error.message, /revoked/);

      const soon = new Date(Date.now() + 1500).toISOString();
      const expiring = await app.request.post('/v1/admin/api-keys').set(admin).send({ name: 'expiring', role: 'client', expires_at: soon });
      assert.equal(expiring.status, 201);
      await app.database.db.updateTable('api_keys').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', expiring.body.id).execute();
      const expired = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${expiring.body.key}`).send({ input: 'hi' });
      assert.equal(expired.status, 401);
      assert.match(expired.body.error.message, /expired/);
    });
    test('an admin trusts a moderator key for the trusted eval set: shown on the key, audited both ways; bad ids and bodies are refused', async () => {
      const created = await app.request.post('/v1/admin/api-keys').set(admin).send({ name: 'senior moderator', role: 'moderator' });
      assert.equal(created.status, 201);
      assert.equal(created.body.trusted, false);
      const on = await app.request.post(`/v1/admin/api-keys/${created.body.id}/trust`).set(admin).send({ trusted: true });
      assert.equal(on.status, 200);
      assert.equal(on.body.trusted, true);
      const listed = await app.request.get('/v1/admin/api-keys').set(admin);
      assert.equal(listed.body.data.find((k: { id: string }) => k.id === created.body.id).trusted, true);
      const off = await app.request.post(`/v1/admin/api-keys/${created.body.id}/trust`).set(admin).send({ trusted: false });
      assert.equal(off.body.trusted, false);
      const audit = await auditEvents(app.database.db, { subjectId: created.body.id });
      assert.deepEqual(audit.map((a) => a.action), ['api_key.created', 'api_key.trusted', 'api_key.untrusted']);

      const bad = await app.request.post(`/v1/admin/api-keys/${created.body.id}/trust`).set(admin).send({ trusted: 'yes' });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.body.error), /trusted/);
      const missing = await app.request.post('/v1/admin/api-keys/00000000-0000-7000-8000-000000000000/trust').set(admin).send({ trusted: true });
      assert.equal(missing.status, 404);
      const row = await app.database.db.selectFrom('api_keys').select('trusted').where('id', '=', created.body.id).executeTakeFirstOrThrow();
      assert.equal(row.trusted, false, 'a refused request changes nothing');
    });
  });
}
