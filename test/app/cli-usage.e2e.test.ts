/**
 * Every CLI that touches the database answers `--help` with its usage (exit 0) and a misspelt flag with
 * the problem and the usage (exit 2), before it reads any configuration or opens anything.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { before, test } from 'node:test';
import { ensureBuilt } from '../helpers/build.js';
import { baseEnv } from '../helpers/process.js';

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // DATA_DIR points nowhere usable: a CLI that got as far as opening a database would fail differently.
  // XDG_RUNTIME_DIR too: servers running on this machine meanwhile (server-registry.ts) are not listed.
  const env = baseEnv({ DATA_DIR: '/nonexistent/modtune', XDG_RUNTIME_DIR: '/nonexistent/run' });
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

// What the npm scripts run: the compiled build.
const CLIS = [
  ['dist/cli/train.js', 'npm run train', 'train'],
  ['dist/cli/import-model.js', 'npm run model:import', 'import'],
  ['dist/cli/pull-model.js', 'npm run model:pull', 'pull'],
  ['dist/cli/export-model.js', 'npm run model:export', 'export'],
  ['dist/cli/migrate.js', 'npm run migrate', 'migrate'],
  ['dist/cli/admin-key.js', 'npm run admin-key', 'admin-key'],
] as const;

before(() => ensureBuilt());

for (const [script, command, name] of CLIS) {
  test(`${command}: --help prints the usage; a misspelt flag names it, prints the usage and exits 2`, async () => {
    const [help, bad] = await Promise.all([run(script, ['--help']), run(script, ['--frce'])]);
    assert.equal(help.code, 0, help.stderr);
    assert.ok(help.stdout.startsWith(`usage: ${command}`), help.stdout);
    assert.equal(help.stderr, '');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, new RegExp(`^modtune ${name}: Unknown option '--frce'`));
    assert.match(bad.stderr, new RegExp(`usage: ${command}`));
    assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  });
}

test('npm run train where DATA_DIR holds no database: names the directory instead of creating one', async () => {
  const r = await run('dist/cli/train.js', []);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^modtune train: there is no database in \/nonexistent\/modtune \(DATA_DIR\): start the service first/);
});

test('npm run model:import with a label map that is not there: says so, no stack trace', async () => {
  const r = await run('dist/cli/import-model.js', ['some-export', '--label-map', '/nonexistent/labels.yaml']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'modtune import: --label-map /nonexistent/labels.yaml: no such file\n');
});
