/**
 * The model endpoints the CLIs use beside a running service: registering an imported model directory
 * (only inside the server's models directory, only a directory it can load, idempotent by sha256, audited)
 * and reading a head's weights back exactly.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { auditEvents, countRows } from '../helpers/factories.js';
import { importModel } from '../../src/models/import/importer.js';
import { quietLogger, testDatabases } from '../helpers/db.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';

for (const kind of testDatabases()) {
  describe(`model registration and weights over the API (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let root: string;
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    before(async () => {
      // MODEL_DIR inside a models directory of this test's own: registrations must land inside it.
      root = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-models-api-'));
      app = await startTestApp({ db: kind });
      await fs.cp(app.server.ctx.config.model.dir, path.join(root, 'default'), { recursive: true });
      // What model:import writes before it registers: a converted model directory.
      await importModel({ sourceDir: await fixtureModelDir('bert'), outDir: path.join(root, 'bert'), logger: quietLogger() });
      (app.server.ctx.config.model as { dir: string }).dir = path.join(root, 'default');
    });
    after(async () => {
      await app?.close();
      await fs.rm(root, { recursive: true, force: true });
    });

    test('a path outside the models directory, a relative path or a directory that is no model is refused (400), and nothing is stored', async () => {
      const before = await countRows(app.database.db, 'backbones');
      for (const [p, code, message] of [
        ['/etc', 'invalid_request', /must be an absolute path inside .*the server's models directory/],
        [path.join(root, '..', path.basename(root) + '-other', 'x'), 'invalid_request', /inside/],
        ['bert', 'invalid_request', /absolute path/],
        [path.join(root, 'missing'), 'invalid_model', /is not a model directory this server can load/],
      ] as const) {
        const r = await app.request.post('/v1/models/backbones').set(admin).send({ path: p, name: 'x' });
        assert.equal(r.status, 400, `${p}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, code);
        assert.match(r.body.error.message, message);
      }
      const bad = await app.request.post('/v1/models/backbones').set(admin).send({ path: path.join(root, 'bert'), name: '../evil' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /name must be/);
      assert.equal(await countRows(app.database.db, 'backbones'), before);
    });

    test('a model directory inside it is registered once (201, audited), then found (200)', async () => {
      const first = await app.request.post('/v1/models/backbones').set(admin).send({ path: path.join(root, 'bert'), name: 'bert' });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.equal(first.body.registered, true);
      assert.equal(first.body.base_head.version, 1);
      // The test policy's 3 categories are not all fed by the synthetic BERT's labels.
      assert.equal(typeof first.body.activation_warning, 'string');
      const again = await app.request.post('/v1/models/backbones').set(admin).send({ path: path.join(root, 'bert'), name: 'bert-again' });
      assert.equal(again.status, 200);
      assert.deepEqual([again.body.registered, again.body.backbone.id, again.body.base_head.id], [false, first.body.backbone.id, first.body.base_head.id]);
      const audit = await auditEvents(app.database.db, { subjectId: first.body.backbone.id });
      assert.deepEqual(audit.map((a) => a.action), ['backbone.registered']);
      assert.notEqual(audit[0].actor, 'system', 'the admin who registered it is named');
    });

    test("a head's weights come back bit for bit", async () => {
      const active = app.server.ctx.models.active.head;
      const r = await app.request.get(`/v1/models/${active.id}/weights`).set(admin);
      assert.equal(r.status, 200);
      const f32 = (b64: string) => {
        const b = Buffer.from(b64, 'base64');
        return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      };
      assert.deepEqual([r.body.num_labels, r.body.dim], [active.numLabels, active.dim]);
      assert.deepEqual(f32(r.body.weight), active.weight);
      assert.deepEqual(f32(r.body.bias), active.bias);
      assert.equal(r.body.backbone.sha256, app.server.ctx.models.active.backbone.sha256);
      assert.equal((await app.request.get(`/v1/models/${crypto.randomUUID()}/weights`).set(admin)).status, 404);
    });
  });
}
