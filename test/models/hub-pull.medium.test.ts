/**
 * Pulling from the Hub with the official client against a local server that answers like the Hub
 * (test/helpers/fake-hub.ts): the files a text-classification import needs land in the Hub's cache layout,
 * pinned to a commit and checked against the Hub's hashes; an interrupted download resumes; a corrupted
 * file is refused; a second pull downloads nothing; each failure says what to do.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pullModel, PullError } from '../../src/models/hub/pull.js';
import { FakeHub, transformersJsFiles } from '../helpers/fake-hub.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('pulling a model from the Hub', () => {
  const hub = new FakeHub();
  let files: Map<string, Buffer>;
  let tmp: string;
  let n = 0;
  const cache = () => path.join(tmp, `cache-${n++}`);
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-pull-'));
    files = await transformersJsFiles({ arch: 'bert', labels: ['neutral', 'toxic'], writeProblemType: false });
    hub.add('acme/tiny-bert', { files });
    hub.add('acme/gated-bert', { files, gated: true });
    const noOnnx = new Map(files);
    noOnnx.delete('onnx/model.onnx');
    hub.add('acme/no-onnx', { files: noOnnx });
    const base = new Map(files);
    const cfg = JSON.parse(files.get('config.json')!.toString());
    base.set('config.json', Buffer.from(JSON.stringify({ ...cfg, architectures: ['BertModel'], id2label: undefined })));
    hub.add('acme/feature-extractor', { files: base, pipelineTag: 'feature-extraction' });
    await hub.start();
  });
  after(async () => {
    await hub.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  test('the files an import needs, pinned to the commit, in the Hub cache layout, each checked against the Hub; the second pull downloads nothing', async () => {
    const cacheDir = cache();
    const p = await pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir });
    const commit = hub.repos.get('acme/tiny-bert')!.commit;
    assert.equal(p.commit, commit);
    assert.equal(p.onnxFile, 'onnx/model.onnx');
    assert.equal(p.dir, path.join(cacheDir, 'models--acme--tiny-bert', 'snapshots', commit));
    assert.deepEqual(p.files.map((f) => f.path).sort(), ['config.json', 'onnx/model.onnx', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    for (const f of p.files) {
      assert.deepEqual(await fs.readFile(path.join(p.dir, f.path)), files.get(f.path), f.path);
      assert.equal(f.sha256, sha256(files.get(f.path)!));
      assert.equal(f.fetched, f.size);
    }
    assert.equal(p.files.find((f) => f.path === 'onnx/model.onnx')!.checked, `sha256:${sha256(files.get('onnx/model.onnx')!)}`);
    assert.match(p.files.find((f) => f.path === 'config.json')!.checked, /^git-sha1:[0-9a-f]{40}$/);
    assert.equal((await fs.readFile(path.join(cacheDir, 'models--acme--tiny-bert', 'refs', 'main'), 'utf8')).trim(), commit);
    assert.ok(!hub.downloads().some((l) => l.url.endsWith('README.md')), 'only what the import needs');

    const before = hub.downloads().length;
    const again = await pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir, revision: commit });
    assert.equal(hub.downloads().length, before, 'the second pull downloads no file');
    assert.deepEqual(again.files.map((f) => f.fetched), again.files.map(() => 0));
    assert.equal(again.dir, p.dir);
  });

  test('an interrupted download resumes from where it broke', async () => {
    const cacheDir = cache();
    const size = files.get('onnx/model.onnx')!.length;
    const cut = Math.floor(size / 3);
    hub.cutAfter.set('onnx/model.onnx', cut);
    await assert.rejects(pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir }), (err: Error) => {
      assert.ok(err instanceof PullError, String(err));
      assert.match(err.message, new RegExp(`downloading onnx/model.onnx: the connection broke after ${cut} of ${size} bytes .*pull again to resume`));
      return true;
    });
    const p = await pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir });
    const model = p.files.find((f) => f.path === 'onnx/model.onnx')!;
    assert.equal(model.fetched, size - cut, 'only the rest was fetched');
    assert.equal(hub.downloads('onnx/model.onnx').at(-1)!.range, `bytes=${cut}-`);
    assert.deepEqual(await fs.readFile(path.join(p.dir, 'onnx/model.onnx')), files.get('onnx/model.onnx'));
  });

  test('bytes that arrived just before the connection broke are kept for the resume', async () => {
    // The break follows the data at once (as when a proxy drops a connection right after a burst): a reader that
    // was busy writing when the stream errored would lose what was still queued in it, and resume from less.
    const cacheDir = cache();
    const size = files.get('onnx/model.onnx')!.length;
    const cut = Math.floor(size / 2);
    let broken = false;
    const breaking: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const url = String(input instanceof Request ? input.url : input);
      const ranged = new Headers(init?.headers).has('Range');
      if (broken || ranged || (init?.method ?? 'GET') !== 'GET' || !url.includes('/resolve/') || !url.endsWith('onnx/model.onnx')) return res;
      broken = true;
      const bytes = Buffer.from(await res.arrayBuffer());
      const pieces = [bytes.subarray(0, 1000), bytes.subarray(1000, cut - 7), bytes.subarray(cut - 7, cut)];
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          const next = () => {
            const piece = pieces.shift();
            if (piece) {
              controller.enqueue(new Uint8Array(piece));
              setImmediate(next);
            } else controller.error(new TypeError('terminated'));
          };
          setImmediate(next);
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    await assert.rejects(pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir, fetch: breaking }), new RegExp(`the connection broke after ${cut} of ${size} bytes`));
    const p = await pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir, fetch: breaking });
    assert.equal(p.files.find((f) => f.path === 'onnx/model.onnx')!.fetched, size - cut, 'only the rest was fetched');
    assert.deepEqual(await fs.readFile(path.join(p.dir, 'onnx/model.onnx')), files.get('onnx/model.onnx'));
  });

  test('a corrupted file is refused by its checksum and not kept', async () => {
    const cacheDir = cache();
    hub.corrupt.add('onnx/model.onnx');
    try {
      await assert.rejects(pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir }), /onnx\/model\.onnx failed its checksum: the Hub states sha256:[0-9a-f]{64}, the downloaded bytes hash to [0-9a-f]{64}; the partial file was deleted/);
    } finally {
      hub.corrupt.delete('onnx/model.onnx');
    }
    const blobs = await fs.readdir(path.join(cacheDir, 'models--acme--tiny-bert', 'blobs'));
    assert.ok(!blobs.includes(sha256(files.get('onnx/model.onnx')!)), 'no blob under the true hash');
    assert.ok(!blobs.some((b) => b.endsWith('.incomplete') && b.startsWith(sha256(files.get('onnx/model.onnx')!))), 'no partial file left to resume from');
  });

  test('a gated repository needs HF_TOKEN; with it, it pulls', async () => {
    await assert.rejects(pullModel({ repo: 'acme/gated-bert', endpoint: hub.url, cacheDir: cache(), token: '' }), (err: Error) => {
      assert.match(err.message, /acme\/gated-bert is gated or private \(401: Access to model acme\/gated-bert is restricted/);
      assert.match(err.message, /set HF_TOKEN to a read token/);
      return true;
    });
    await assert.rejects(pullModel({ repo: 'acme/gated-bert', endpoint: hub.url, cacheDir: cache(), token: 'hf_wrong' }), /the token in HF_TOKEN has no access to acme\/gated-bert/);
    const p = await pullModel({ repo: 'acme/gated-bert', endpoint: hub.url, cacheDir: cache(), token: 'hf_test_token' });
    assert.equal(p.files.length, 5);
  });

  test('a repository that does not exist, one without ONNX, one without a classification head, a bad revision: each said plainly', async () => {
    await assert.rejects(pullModel({ repo: 'acme/missing', endpoint: hub.url, cacheDir: cache(), token: '' }), /acme\/missing was not found at http:\/\/127\.0\.0\.1:\d+ \(404: Repository not found\).*set HF_TOKEN/);
    await assert.rejects(pullModel({ repo: 'acme/no-onnx', endpoint: hub.url, cacheDir: cache() }), /acme\/no-onnx has no ONNX export \(no \.onnx file among its \d+ files\)/);
    await assert.rejects(pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir: cache(), dtype: 'int8' }), /acme\/tiny-bert has no int8 ONNX file \(looked for onnx\/model_quantized\.onnx.*it has onnx\/model\.onnx\)\. It has a float export: pull with --dtype fp32/);
    const cacheDir = cache();
    await assert.rejects(pullModel({ repo: 'acme/feature-extractor', endpoint: hub.url, cacheDir }), /acme\/feature-extractor has no text-classification head: its config\.json names BertModel and no id2label/);
    assert.equal(hub.downloads().filter((l) => l.url.includes('feature-extractor') && l.url.endsWith('.onnx')).length, 0, 'refused before the ONNX file');
    await assert.rejects(pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir: cache(), revision: 'v9' }), /acme\/tiny-bert was not found .*404: Invalid rev id: v9/);
    await assert.rejects(pullModel({ repo: '../etc', endpoint: hub.url, cacheDir: cache() }), /'\.\.\/etc' is not a Hub repo id/);
  });

  test('network down: the error says what to do offline, and a revision pulled before is used from the cache', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const down = `http://127.0.0.1:${closed}`;
    await assert.rejects(pullModel({ repo: 'acme/tiny-bert', endpoint: down, cacheDir: cache() }), (err: Error) => {
      assert.match(err.message, /cannot reach the Hub at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
      assert.match(err.message, /npm run model:import -- <that directory>/);
      assert.match(err.message, /HF_ENDPOINT/);
      return true;
    });
    const cacheDir = cache();
    const online = await pullModel({ repo: 'acme/tiny-bert', endpoint: hub.url, cacheDir });
    const offline = await pullModel({ repo: 'acme/tiny-bert', endpoint: down, cacheDir });
    assert.equal(offline.offline, true);
    assert.equal(offline.commit, online.commit);
    assert.equal(offline.dir, online.dir);
  });
});
