/**
 * /openapi.json: an OpenAPI 3.1 document, public, with one operation per route of the app (both ways,
 * so neither can drift), request bodies from the routes' zod schemas, and the roles each route needs.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { operations } from '../../src/http/openapi.js';
import { REVIEW_REASONS } from '../../src/db/schema/review.js';
import { controllerApp } from '../helpers/controller.js';
import { appRoutes, ENDPOINTS } from '../helpers/endpoints.js';

describe('the OpenAPI document', () => {
  // The routes as the app mounts them, on fake services: the document and the routes need no database.
  const app = controllerApp();
  let doc: any;
  before(async () => {
    const r = await app.request.get('/openapi.json');
    assert.equal(r.status, 200);
    doc = r.body;
  });

  test('is OpenAPI 3.1 with the package version, bearer keys, and an error schema', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.match(doc.info.version, /^\d+\.\d+\.\d+/);
    assert.equal(doc.components.securitySchemes.apiKey.scheme, 'bearer');
    assert.deepEqual(doc.components.schemas.Error.required, ['error']);
  });

  test('every route of the app is documented, and nothing else', () => {
    const routes = appRoutes(app.app).map((r) => r.replace(/:([A-Za-z_]+)/g, '{$1}')).sort();
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    assert.deepEqual(documented, routes);
  });

  test('request bodies come from the zod schemas; the moderation input is described; public routes need no key', () => {
    const verdict = doc.paths['/v1/review/tasks/{id}/verdict'].post;
    assert.deepEqual(Object.keys(verdict.requestBody.content['application/json'].schema.properties).sort(), ['categories', 'notes']);
    assert.deepEqual(verdict['x-modtune-roles'], ['moderator', 'admin']);
    assert.deepEqual(verdict.parameters.map((p: { name: string; in: string }) => [p.name, p.in]), [['id', 'path']]);
    const claim = doc.paths['/v1/review/claim'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(claim.properties.reasons.items.enum, REVIEW_REASONS);
    assert.equal(claim.additionalProperties, false);
    const moderate = doc.paths['/v1/moderate'].post.requestBody.content['application/json'].schema;
    assert.ok(moderate.properties.input.oneOf, 'the hand-checked input is described');
    assert.deepEqual(doc.paths['/healthz'].get.security, []);
    assert.deepEqual(doc.paths['/v1/models/rollback'].post['x-modtune-roles'], ['admin']);
    const pairs = doc.paths['/v1/preference-pairs'].get.parameters.map((p: { name: string }) => p.name);
    assert.deepEqual(pairs, ['format', 'split', 'category', 'after_id', 'limit']);
  });

  test('every success response is described: a JSON schema from the declaration, or the content type of the three answers that are not JSON', () => {
    // Not JSON: the root (HTML to a browser), the Prometheus text, the JSON-lines export.
    const notJson: Record<string, string> = { 'GET /': 'text/html', 'GET /metrics': 'text/plain', 'GET /v1/preference-pairs': 'application/x-ndjson' };
    const wrong: string[] = [];
    for (const op of operations()) {
      const route = `${op.method.toUpperCase()} ${op.path}`;
      const documented = doc.paths[op.path.replace(/:([A-Za-z_]+)/g, '{$1}')][op.method].responses[String(op.status ?? 200)];
      const content = documented?.content ?? {};
      if (notJson[route]) {
        if (!content[notJson[route]] || op.response) wrong.push(`${route}: expected ${notJson[route]} without a JSON schema`);
      } else if (!op.response || !content['application/json']?.schema?.type || '$schema' in content['application/json'].schema) {
        wrong.push(`${route}: no JSON response schema`);
      }
    }
    assert.deepEqual(wrong, []);
    const task = doc.paths['/v1/review/tasks/{id}'].get.responses['200'].content['application/json'].schema;
    assert.ok(task.required.includes('decision') && task.properties.decision.properties.action.type.includes('null'), 'a blind task hides the action: nullable');
    assert.ok(doc.paths['/v1/admin/api-keys'].post.responses['201'].content['application/json'].schema.required.includes('key'), 'the 201 carries the key');
  });

  test('the bodies the tests send as valid examples are valid under the documented zod schemas', () => {
    for (const e of ENDPOINTS) {
      if (!e.example) continue;
      const op = operations().find((o) => o.method === e.method.toLowerCase() && o.path === e.path);
      assert.ok(op, `${e.method} ${e.path} is documented`);
      if (op.body && '_zod' in (op.body as object)) {
        const r = (op.body as { safeParse: (v: unknown) => { success: boolean } }).safeParse(e.example);
        assert.ok(r.success, `${e.method} ${e.path}: the example is valid`);
      }
    }
  });
});
