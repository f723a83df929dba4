/**
 * No SQL is built by string concatenation: queries go through kysely's builder or `sql` templates, whose
 * interpolations are parameters. The few raw statements are constants, listed here on purpose.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { bundlePages } from '../../src/http/pages/bundle.js';
import { controllerApp } from '../helpers/controller.js';

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

const ALLOWED_RAW = new Map([
  // BEGIN/COMMIT/ROLLBACK with an isolation level from kysely's own enum.
  ['src/db/pglite-dialect.ts', /CompiledQuery\.raw\(`begin\$\{iso\}`\)|CompiledQuery\.raw\('(commit|rollback)'\)/],
]);

test('no raw SQL strings with interpolated values in src/', () => {
  const problems: string[] = [];
  for (const file of files('src')) {
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const where = `${file}:${i + 1}`;
      if (/sql\.raw\(|sql\.lit\(/.test(line)) problems.push(`${where}: sql.raw/sql.lit`);
      if (/CompiledQuery\.raw\(/.test(line) && !ALLOWED_RAW.get(file)?.test(line)) problems.push(`${where}: CompiledQuery.raw`);
      // pg's client.query with a template literal or string concatenation.
      if (/\.query\(\s*`[^`]*\$\{/.test(line) && !/escapeIdentifier/.test(line)) problems.push(`${where}: query(\`…\${}\`)`);
      if (/\.query\(\s*['"][^'"]*['"]\s*\+/.test(line)) problems.push(`${where}: query('…' + …)`);
      if (/\.(execute|query)\(\s*[a-zA-Z_]+\s*\+/.test(line)) problems.push(`${where}: concatenated query`);
    });
  }
  assert.deepEqual(problems, []);
});

test('the security headers and CSP are on every response', async () => {
  const app = controllerApp();
  for (const p of ['/healthz', '/review/', '/dashboard/', '/v1/nothing']) {
    const r = await app.request.get(p);
    const csp = r.headers['content-security-policy'];
    assert.match(csp, /default-src 'self'/, p);
    assert.match(csp, /script-src 'self'/, p);
    assert.match(csp, /object-src 'none'/, p);
    assert.match(csp, /frame-ancestors 'none'/, p);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, p);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
    assert.ok(r.headers['strict-transport-security'], p);
    assert.equal(r.headers['x-frame-options'], 'SAMEORIGIN', p);
    assert.equal(r.headers['x-powered-by'], undefined, p);
  }
});

test('the pages run bundled scripts built from their TypeScript; the sources are not served', async () => {
  // The scripts as the server bundles them at start (from the sources, in tests).
  const app = controllerApp({ pages: await bundlePages() });
  for (const p of ['/review/review.js', '/dashboard/dashboard.js']) {
    const r = await app.request.get(p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers['content-type'], /javascript/);
    assert.doesNotMatch(r.text, /^\s*import\s/m, `${p} is one module: its imports were bundled in`);
    assert.doesNotMatch(r.text, /: (string|number|boolean)\b[,)]/, `${p} carries no type annotations`);
  }
  for (const p of ['/review/review.ts', '/dashboard/dashboard.ts', '/review/page.js', '/review/../shared/page.ts']) {
    assert.equal((await app.request.get(p)).status, 404, p);
  }
});
