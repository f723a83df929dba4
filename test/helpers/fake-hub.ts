/**
 * A local HTTP server on 127.0.0.1 that speaks the parts of the Hugging Face Hub's API the official client
 * (@huggingface/hub) uses to pull a model, the way the Hub answers them:
 * - `GET /api/models/{repo}/revision/{rev}`: model info with `sha` (404 `RepoNotFound` / `RevisionNotFound`);
 * - `GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=`: the file listing, with `oid` (git blob
 *   sha1), `lfs` (sha256, size, pointer size) for large files and, expanded, `lastCommit`;
 * - `GET|HEAD /{repo}/resolve/{rev}/{path}`: the bytes, with `ETag` (the git sha1, or for LFS files the
 *   sha256 in `X-Linked-ETag` and `ETag`), `X-Linked-Size`, `X-Repo-Commit`, `Accept-Ranges` and Range
 *   requests (206 with `Content-Range`); a gated repository's files answer 401 `GatedRepo` without a token;
 * - `GET /{repo}/raw/{rev}/{path}`: the git content (an LFS pointer for LFS files).
 * Faults for tests: cut a file's body after N bytes once (`cutAfter`), serve wrong bytes (`corrupt`).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { buildTransformerClassifierFiles } from '../../tools/synthetic/index.js';

export interface FakeRepo {
  files: Map<string, Buffer>;
  /** Files stored with LFS (default: every file of 10 kB or more, and every .onnx). */
  lfs?: (path: string, size: number) => boolean;
  gated?: boolean;
  commit?: string;
  pipelineTag?: string;
}

export interface RequestLog {
  method: string;
  url: string;
  range: string | null;
  status: number;
  /** Body bytes sent. */
  bytes: number;
}

const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Buffer) => sha1(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]));

export class FakeHub {
  readonly repos = new Map<string, Required<Omit<FakeRepo, 'pipelineTag'>> & { pipelineTag: string }>();
  readonly log: RequestLog[] = [];
  /** Tokens the server accepts for gated repositories. */
  readonly tokens = new Set<string>(['hf_test_token']);
  /** The next response for this path is cut after this many body bytes (once). */
  readonly cutAfter = new Map<string, number>();
  /** Paths served with one byte changed (the listing keeps the true hashes). */
  readonly corrupt = new Set<string>();
  private server!: http.Server;
  url = '';

  add(name: string, repo: FakeRepo): void {
    const commit = repo.commit ?? sha1(`${name}:${[...repo.files.keys()].sort().join(',')}:${[...repo.files.values()].map((b) => sha256(b)).join(',')}`);
    this.repos.set(name, {
      files: repo.files,
      lfs: repo.lfs ?? ((p, size) => size >= 10_000 || p.endsWith('.onnx')),
      gated: repo.gated ?? false,
      commit,
      pipelineTag: repo.pipelineTag ?? 'text-classification',
    });
  }

  /** Adds a repository from a directory's files (recursively). */
  async addDir(name: string, dir: string, extra: Omit<FakeRepo, 'files'> = {}): Promise<void> {
    const files = new Map<string, Buffer>();
    const walk = async (d: string) => {
      for (const e of await fs.readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else files.set(path.relative(dir, p).split(path.sep).join('/'), await fs.readFile(p));
      }
    };
    await walk(dir);
    this.add(name, { ...extra, files });
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests for a file's bytes (resolve), by path. */
  downloads(file?: string): RequestLog[] {
    return this.log.filter((l) => l.method === 'GET' && /\/resolve\//.test(l.url) && l.range !== 'bytes=0-0' && (!file || l.url.endsWith(`/${file}`)));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const entry: RequestLog = { method: req.method ?? 'GET', url: url.pathname, range: (req.headers.range as string) ?? null, status: 0, bytes: 0 };
    this.log.push(entry);
    const json = (status: number, body: unknown, code?: string) => {
      entry.status = status;
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...(code ? { 'X-Error-Code': code } : {}) });
      res.end(JSON.stringify(body));
    };
    const api = /^\/api\/models\/([^/]+\/[^/]+|[^/]+)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    if (api) {
      const [, name, kind, rev, sub] = api;
      const repo = this.repos.get(decodeURIComponent(name));
      if (!repo) return json(404, { error: 'Repository not found' }, 'RepoNotFound');
      const r = decodeURIComponent(rev);
      if (r !== 'main' && r !== 'HEAD' && r !== repo.commit) return json(404, { error: `Invalid rev id: ${r}` }, 'RevisionNotFound');
      if (kind === 'revision') {
        return json(200, {
          _id: sha1(name).slice(0, 24),
          id: decodeURIComponent(name),
          sha: repo.commit,
          private: false,
          gated: repo.gated ? 'manual' : false,
          pipeline_tag: repo.pipelineTag,
          downloads: 0,
          likes: 0,
          lastModified: '2026-11-01T00:00:00.000Z',
          siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
        });
      }
      const recursive = url.searchParams.get('recursive') === 'true';
      const expand = url.searchParams.get('expand') === 'true';
      const prefix = sub ? `${decodeURIComponent(sub)}/` : '';
      const out: unknown[] = [];
      const dirs = new Set<string>();
      for (const [p, b] of [...repo.files].sort(([a], [c]) => (a < c ? -1 : 1))) {
        if (!p.startsWith(prefix)) continue;
        const rest = p.slice(prefix.length);
        if (!recursive && rest.includes('/')) {
          dirs.add(prefix + rest.split('/')[0]);
          continue;
        }
        for (let i = rest.indexOf('/'); recursive && i >= 0; i = rest.indexOf('/', i + 1)) dirs.add(prefix + rest.slice(0, i));
        const lfs = repo.lfs(p, b.length);
        out.push({
          type: 'file',
          oid: lfs ? gitOid(Buffer.from(pointer(b))) : gitOid(b),
          size: b.length,
          path: p,
          ...(lfs ? { lfs: { oid: sha256(b), size: b.length, pointerSize: pointer(b).length } } : {}),
          ...(expand ? { lastCommit: { id: repo.commit, title: 'Upload', date: '2026-11-01T00:00:00.000Z' }, securityFileStatus: { status: 'safe' } } : {}),
        });
      }
      for (const d of dirs) out.unshift({ type: 'directory', oid: sha1(d), size: 0, path: d });
      return json(200, out);
    }
    const file = /^\/([^/]+\/[^/]+|[^/]+)\/(resolve|raw)\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) {
      const [, name, kind, rev, p] = file;
      const repo = this.repos.get(decodeURIComponent(name));
      if (!repo) return json(404, { error: 'Repository not found' }, 'RepoNotFound');
      const r = decodeURIComponent(rev);
      if (r !== 'main' && r !== repo.commit) return json(404, { error: `Invalid rev id: ${r}` }, 'RevisionNotFound');
      if (repo.gated) {
        const auth = (req.headers.authorization ?? '').replace(/^Bearer /, '');
        if (!this.tokens.has(auth)) {
          return json(401, { error: `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.` }, 'GatedRepo');
        }
      }
      const filePath = decodeURIComponent(p);
      let body = repo.files.get(filePath);
      if (!body) return json(404, { error: 'Entry not found' }, 'EntryNotFound');
      const lfs = repo.lfs(filePath, body.length);
      const headers: Record<string, string> = { 'X-Repo-Commit': repo.commit, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
      if (kind === 'raw' && lfs) body = Buffer.from(pointer(body));
      else if (lfs) {
        headers.ETag = `"${sha256(body)}"`;
        headers['X-Linked-ETag'] = `"${sha256(body)}"`;
        headers['X-Linked-Size'] = String(body.length);
      } else headers.ETag = `"${gitOid(body)}"`;
      if (kind === 'raw' && lfs) headers.ETag = `"${gitOid(body)}"`;
      if (this.corrupt.has(filePath) && kind === 'resolve') {
        body = Buffer.from(body);
        body[body.length >> 1] ^= 0xff;
      }
      let status = 200;
      let start = 0;
      let end = body.length - 1;
      const range = /^bytes=(\d+)-(\d*)$/.exec(entry.range ?? '');
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
        if (start >= body.length) {
          entry.status = 416;
          res.writeHead(416, { 'Content-Range': `bytes */${body.length}` });
          return void res.end();
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${body.length}`;
      }
      const slice = body.subarray(start, end + 1);
      headers['Content-Length'] = String(slice.length);
      entry.status = status;
      res.writeHead(status, headers);
      if (req.method === 'HEAD') return void res.end();
      const cut = this.cutAfter.get(filePath);
      if (cut !== undefined && kind === 'resolve' && !(range && start === 0 && end === 0)) {
        this.cutAfter.delete(filePath);
        entry.bytes = Math.min(cut, slice.length);
        res.write(slice.subarray(0, cut), () => res.destroy());
        return;
      }
      entry.bytes = slice.length;
      res.end(slice);
      return;
    }
    json(404, { error: 'Not found' });
  }
}

function pointer(b: Buffer): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(b)}\nsize ${b.length}\n`;
}

/** A synthetic classifier in the transformers.js layout (onnx/model.onnx; with `build.quantize`, onnx/model_quantized.onnx too). */
export async function transformersJsFiles(
  opts: Parameters<typeof buildTransformerClassifierFiles>[0],
  build: Parameters<typeof buildTransformerClassifierFiles>[1] = {},
): Promise<Map<string, Buffer>> {
  const built = await buildTransformerClassifierFiles(opts, build);
  const files = new Map<string, Buffer>();
  for (const [name, bytes] of built.files) files.set(name === 'model.onnx' ? 'onnx/model.onnx' : name, Buffer.from(bytes));
  files.set('README.md', Buffer.from('---\npipeline_tag: text-classification\n---\n'));
  return files;
}
