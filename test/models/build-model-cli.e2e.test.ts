import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const exec = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'src/cli/build-model.ts', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run model:build', () => {
  it('prints its usage', async () => {
    const r = await cli('--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--out DIR/);
  });

  it('rejects bad arguments with exit code 2', async () => {
    const bad = await cli('--vocab', 'lots');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--vocab must be a positive integer/);
    assert.equal((await cli('--colour')).code, 2);
  });

  it('fails with a clear message when the embeddings are missing', async () => {
    const r = await cli('--embeddings', '/nonexistent/wink.json', '--out', '/nonexistent/out');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot build the starter model: embeddings file not found/);
  });
});
