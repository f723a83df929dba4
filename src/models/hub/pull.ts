/**
 * Pulls a text classifier from the Hugging Face Hub (or a mirror: HF_ENDPOINT) into the Hub's own cache
 * layout, ready for model:import. The official client (@huggingface/hub) answers every question about the
 * repository: which commit a revision is (modelInfo), which files it holds with their sizes and hashes
 * (listFiles, expanded), where a file's bytes are with the Hub's ETag and size (fileDownloadInfo). The bytes
 * themselves are streamed here, because the client's downloadFileToCacheDir neither resumes an interrupted
 * download nor verifies what arrived nor reports progress: each file goes to `blobs/<etag>.incomplete`,
 * resumes from its length with a Range request, is checked against the hash the Hub states (sha256 for LFS
 * files, the git blob sha1 otherwise) before it is renamed into place, and is linked from
 * `snapshots/<commit>/<path>` — the layout Python's huggingface_hub and the JavaScript client share, under
 * HF_HUB_CACHE (default ~/.cache/huggingface/hub), so a second pull, or another tool, reuses it.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, ftruncateSync, openSync, writeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { fileDownloadInfo, getHFHubCachePath, getRepoFolderName, HUB_URL, HubApiError, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { TOKENIZER_SIDE_FILES, type ModelDir } from '../../inference/model-dir.js';

export type Dtype = 'fp32' | 'int8';

/** The ONNX files a dtype may come as, in the order tried (transformers.js' names first). */
export const ONNX_CANDIDATES: Record<Dtype, string[]> = {
  fp32: ['onnx/model.onnx', 'model.onnx'],
  int8: ['onnx/model_quantized.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx', 'model_quantized.onnx'],
};

export class PullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PullError';
  }
}

export interface PullProgress {
  file: string;
  /** Bytes on disk so far (a resumed file starts above 0). */
  done: number;
  total: number;
  phase: 'start' | 'data' | 'done' | 'cached';
}

export interface PullOptions {
  repo: string;
  /** A branch, tag or commit (default main). */
  revision?: string;
  dtype?: Dtype;
  /** Default HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default HF_TOKEN. */
  token?: string;
  /** Default the Hub's cache (HF_HUB_CACHE, HF_HOME, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  progress?: (p: PullProgress) => void;
  fetch?: typeof fetch;
}

export interface PulledFile {
  path: string;
  size: number;
  /** sha256 of the bytes (checked against the Hub's for LFS files). */
  sha256: string;
  /** The Hub's hash the file was checked against: `sha256:` (LFS) or `git-sha1:` (a regular git blob). */
  checked: string;
  /** Bytes fetched by this pull (0: already in the cache). */
  fetched: number;
}

export interface Pulled {
  repo: string;
  revision: string;
  commit: string;
  endpoint: string;
  /** The snapshot directory: the files as the import reads them. */
  dir: string;
  /** The ONNX file chosen, relative to `dir`. */
  onnxFile: string;
  dtype: Dtype;
  files: PulledFile[];
  /** True when the Hub could not be reached and a complete cached snapshot of the revision was used. */
  offline: boolean;
}

const COMMIT = /^[0-9a-f]{40}$/;

/** What to do without the network, said with every network failure. */
function offlineAdvice(repo: string): string {
  return (
    `Offline: a revision pulled before is used from the cache (HF_HUB_CACHE) when the Hub cannot be reached; ` +
    `otherwise copy the repository's files (config.json, tokenizer.json, onnx/model.onnx) from a machine with access and run ` +
    `npm run model:import -- <that directory>, or point HF_ENDPOINT at a mirror or proxy you can reach (repo ${repo}).`
  );
}

function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const cause = (err as { cause?: { code?: string } }).cause;
  return (err.name === 'TypeError' && /fetch failed|terminated|network/i.test(err.message)) || /^(ECONN|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|UND_ERR)/.test(cause?.code ?? '');
}

/** Turns the client's errors into what a user can act on. */
function explain(err: unknown, o: { repo: string; endpoint: string; token: boolean; what: string }): Error {
  if (err instanceof PullError) return err;
  if (err instanceof HubApiError) {
    const s = err.statusCode;
    if (s === 404) {
      return new PullError(
        `${o.what}: ${o.repo} was not found at ${o.endpoint} (404: ${firstLine(err.message)}). Check the repo id (owner/name) and --revision` +
          `${o.token ? '' : '; a private repository also answers 404 without a token: set HF_TOKEN'}.`,
      );
    }
    if (s === 401 || s === 403) {
      return new PullError(
        o.token
          ? `${o.what}: the token in HF_TOKEN has no access to ${o.repo} (${s}: ${firstLine(err.message)}). If the model is gated, accept its conditions at ${o.endpoint}/${o.repo} with the account the token belongs to.`
          : `${o.what}: ${o.repo} is gated or private (${s}: ${firstLine(err.message)}). Accept its conditions at ${o.endpoint}/${o.repo}, then set HF_TOKEN to a read token of that account (https://huggingface.co/settings/tokens) and pull again.`,
      );
    }
    return new PullError(`${o.what}: the Hub at ${o.endpoint} answered ${s} (${firstLine(err.message)})`);
  }
  if (isNetworkError(err)) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return new PullError(`${o.what}: cannot reach the Hub at ${o.endpoint} (${cause?.code ?? cause?.message ?? (err as Error).message}). ${offlineAdvice(o.repo)}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

const firstLine = (s: string) => s.split(/\. URL: /)[0].split('\n')[0];

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

/** The git blob hash of a file: how the Hub names a regular (non-LFS) file's content. */
async function gitBlobSha1(file: string, size: number): Promise<string> {
  const h = createHash('sha1').update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const unquote = (etag: string) => etag.replace(/^W\//, '').replace(/^"|"$/g, '');

interface Wanted {
  entry: ListFileEntry;
  /** The name of the blob: the Hub's ETag for the file (sha256 for LFS, git sha1 otherwise). */
  etag: string;
}

/** Which of the repository's files a text-classification import needs, with the ONNX file for `dtype`. */
function chooseFiles(entries: ListFileEntry[], dtype: Dtype, repo: string): { wanted: ListFileEntry[]; onnx: string } {
  const files = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e]));
  for (const required of ['config.json', 'tokenizer.json']) {
    if (!files.has(required)) {
      throw new PullError(
        `${repo} has no ${required} (files: ${[...files.keys()].slice(0, 20).join(', ')}${files.size > 20 ? ', …' : ''}); modtune needs a Hugging Face text-classification repository with config.json, tokenizer.json and an ONNX export`,
      );
    }
  }
  const onnx = ONNX_CANDIDATES[dtype].find((f) => files.has(f));
  if (!onnx) {
    const present = [...files.keys()].filter((f) => f.endsWith('.onnx'));
    const other: Dtype = dtype === 'fp32' ? 'int8' : 'fp32';
    const hint = ONNX_CANDIDATES[other].some((f) => files.has(f)) ? ` It has a${other === 'int8' ? 'n int8' : ' float'} export: pull with --dtype ${other}.` : '';
    throw new PullError(
      present.length
        ? `${repo} has no ${dtype} ONNX file (looked for ${ONNX_CANDIDATES[dtype].join(', ')}; it has ${present.join(', ')}).${hint}`
        : `${repo} has no ONNX export (no .onnx file among its ${files.size} files). Export it with optimum (README, "Bring your own model") and use npm run model:import, or pick a repository that ships onnx/model.onnx (the Xenova/* and onnx-community/* ones do).`,
    );
  }
  if (files.has(`${onnx}_data`) || files.has(`${onnx}.data`)) {
    throw new PullError(`${repo}'s ${onnx} keeps its weights in an external data file; modtune imports single-file ONNX models (under 2 GB)`);
  }
  const wanted = ['config.json', 'tokenizer.json', ...TOKENIZER_SIDE_FILES.filter((f) => files.has(f)), onnx].map((f) => files.get(f)!);
  return { wanted, onnx };
}

/** Refuses a repository whose config is not a sequence classifier, before the ONNX file is fetched. */
async function checkClassifier(configPath: string, repo: string): Promise<void> {
  let config: { architectures?: unknown; id2label?: unknown; problem_type?: unknown };
  try {
    config = JSON.parse(await fs.readFile(configPath, 'utf8'));
  } catch (err) {
    throw new PullError(`${repo}'s config.json is not valid JSON (${(err as Error).message})`);
  }
  const archs = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  const labels = config.id2label && typeof config.id2label === 'object' ? Object.keys(config.id2label).length : 0;
  if (!archs.some((a) => a.endsWith('ForSequenceClassification')) || labels === 0) {
    throw new PullError(
      `${repo} has no text-classification head: its config.json names ${archs.length ? archs.join(', ') : 'no architecture'}` +
        `${labels ? '' : ' and no id2label'}; modtune needs a …ForSequenceClassification model whose config names its labels`,
    );
  }
  if (config.problem_type === 'regression') throw new PullError(`${repo} is a regression model (problem_type regression); modtune needs a classifier`);
}

export async function pullModel(o: PullOptions): Promise<Pulled> {
  const endpoint = (o.endpoint ?? process.env.HF_ENDPOINT ?? HUB_URL).replace(/\/+$/, '');
  const token = o.token ?? (process.env.HF_TOKEN?.trim() || undefined);
  const dtype = o.dtype ?? 'fp32';
  const revision = o.revision ?? 'main';
  const cacheDir = o.cacheDir ?? getHFHubCachePath();
  const fetchFn = o.fetch ?? fetch;
  if (!/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(o.repo) || o.repo.includes('..')) {
    throw new PullError(`'${o.repo}' is not a Hub repo id (owner/name, e.g. Xenova/toxic-bert)`);
  }
  const storage = path.join(cacheDir, getRepoFolderName({ type: 'model', name: o.repo }));
  const client = { hubUrl: endpoint, accessToken: token, fetch: fetchFn, revision };
  const ctx = { repo: o.repo, endpoint, token: !!token };

  // The commit the revision names now (the pin), then the files at that commit.
  let commit: string;
  let entries: ListFileEntry[];
  try {
    const info = await modelInfo({ ...client, name: o.repo, additionalFields: ['sha'] });
    commit = String((info as { sha?: string }).sha ?? '');
    if (!COMMIT.test(commit)) throw new PullError(`the Hub at ${endpoint} did not say which commit ${o.repo}@${revision} is (sha '${commit}')`);
    entries = [];
    for await (const e of listFiles({ ...client, repo: { type: 'model', name: o.repo }, revision: commit, recursive: true, expand: true })) entries.push(e);
  } catch (err) {
    const e = explain(err, { ...ctx, what: `pulling ${o.repo}@${revision}` });
    if (!isNetworkError(err)) throw e;
    // Offline: a complete snapshot of this revision in the cache will do.
    const cached = await cachedSnapshot(storage, revision, dtype);
    if (!cached) throw e;
    return { repo: o.repo, revision, commit: cached.commit, endpoint, dir: cached.dir, onnxFile: cached.onnx, dtype, files: cached.files, offline: true };
  }
  const { wanted, onnx } = chooseFiles(entries, dtype, o.repo);
  if (!COMMIT.test(revision) || revision !== commit) {
    await fs.mkdir(path.join(storage, 'refs'), { recursive: true });
    await fs.writeFile(path.join(storage, 'refs', revision), commit);
  }
  const snapshot = path.join(storage, 'snapshots', commit);
  const files: PulledFile[] = [];
  for (const entry of wanted) {
    files.push(await fetchFile({ ...o, endpoint, token, fetchFn, storage, snapshot, commit, entry, ctx }));
    if (entry.path === 'config.json') await checkClassifier(path.join(snapshot, 'config.json'), o.repo);
  }
  await fs.writeFile(path.join(storage, `.modtune-${commit}-${dtype}.json`), `${JSON.stringify({ onnx, files }, null, 2)}\n`);
  return { repo: o.repo, revision, commit, endpoint, dir: snapshot, onnxFile: onnx, dtype, files, offline: false };
}

/** A snapshot this pull completed before (its manifest is written last), for offline use. */
async function cachedSnapshot(storage: string, revision: string, dtype: Dtype): Promise<{ commit: string; dir: string; onnx: string; files: PulledFile[] } | null> {
  const commit = COMMIT.test(revision) ? revision : (await fs.readFile(path.join(storage, 'refs', revision), 'utf8').catch(() => '')).trim();
  if (!COMMIT.test(commit)) return null;
  const manifest = await fs.readFile(path.join(storage, `.modtune-${commit}-${dtype}.json`), 'utf8').catch(() => null);
  if (!manifest) return null;
  const m = JSON.parse(manifest) as { onnx: string; files: PulledFile[] };
  const dir = path.join(storage, 'snapshots', commit);
  for (const f of m.files) if (!(await exists(path.join(dir, f.path)))) return null;
  return { commit, dir, onnx: m.onnx, files: m.files.map((f) => ({ ...f, fetched: 0 })) };
}

async function fetchFile(a: {
  repo: string;
  endpoint: string;
  token?: string;
  fetchFn: typeof fetch;
  storage: string;
  snapshot: string;
  commit: string;
  entry: ListFileEntry;
  progress?: (p: PullProgress) => void;
  ctx: { repo: string; endpoint: string; token: boolean };
}): Promise<PulledFile> {
  const { entry } = a;
  const lfs = entry.lfs?.oid ?? null;
  const etag = lfs ?? entry.oid;
  if (!etag) throw new PullError(`the Hub listed ${entry.path} without a hash (oid); cannot verify it`);
  const size = entry.lfs?.size ?? entry.size;
  const checked = lfs ? `sha256:${lfs}` : `git-sha1:${entry.oid}`;
  const blob = path.join(a.storage, 'blobs', etag);
  const pointer = path.join(a.snapshot, entry.path);
  await fs.mkdir(path.dirname(blob), { recursive: true });
  await fs.mkdir(path.dirname(pointer), { recursive: true });
  const link = async () => {
    await fs.rm(pointer, { force: true });
    await fs.symlink(path.relative(path.dirname(pointer), blob), pointer);
  };
  if (await exists(blob)) {
    // In the cache: verified when it was written (blobs are renamed into place only after their check).
    if (!(await exists(pointer))) await link();
    a.progress?.({ file: entry.path, done: size, total: size, phase: 'cached' });
    return { path: entry.path, size, sha256: lfs ?? (await sha256Of(blob)), checked, fetched: 0 };
  }

  let info;
  try {
    info = await fileDownloadInfo({ repo: { type: 'model', name: a.repo }, path: entry.path, revision: a.commit, hubUrl: a.endpoint, accessToken: a.token, fetch: a.fetchFn });
  } catch (err) {
    throw explain(err, { ...a.ctx, what: `downloading ${entry.path}` });
  }
  if (!info) throw new PullError(`${entry.path} is listed in ${a.repo}@${a.commit} but the Hub has no file there`);
  if (info.xet && !lfs) throw new PullError(`${entry.path} is stored with Xet only; modtune downloads files the Hub serves over HTTP`);
  const stated = unquote(info.etag);
  if (stated !== etag) throw new PullError(`the Hub's ETag for ${entry.path} (${stated}) differs from its listing (${etag}); the repository changed during the pull: pull again`);
  if (info.size !== size) throw new PullError(`the Hub states ${info.size} bytes for ${entry.path}, its listing ${size}`);

  const incomplete = `${blob}.incomplete`;
  let have = (await fs.stat(incomplete).catch(() => null))?.size ?? 0;
  if (have > size) {
    await fs.rm(incomplete);
    have = 0;
  }
  let startedAt = have;
  a.progress?.({ file: entry.path, done: have, total: size, phase: 'start' });
  if (have < size) {
    // The file is opened before the request and each chunk is written synchronously, so the reader always has a
    // read pending: a stream that errors discards the chunks queued in it, and bytes that arrived before a broken
    // connection would otherwise be lost to the resume.
    const fd = openSync(incomplete, have > 0 ? 'a' : 'w');
    try {
      let res: Response;
      try {
        res = await a.fetchFn(info.url, { headers: { ...(a.token ? { Authorization: `Bearer ${a.token}` } : {}), ...(have > 0 ? { Range: `bytes=${have}-` } : {}) } });
      } catch (err) {
        throw explain(err, { ...a.ctx, what: `downloading ${entry.path}` });
      }
      if (!res.ok) throw new PullError(`downloading ${entry.path}: the Hub answered ${res.status} ${res.statusText}`);
      const reader = res.body!.getReader();
      if (have > 0 && res.status !== 206) {
        // The server ignored the range: start over rather than append the whole file to its beginning.
        have = 0;
        startedAt = 0;
        ftruncateSync(fd, 0);
      }
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw new PullError(
            `downloading ${entry.path}: the connection broke after ${have} of ${size} bytes (${(err as Error).message}); pull again to resume from there. ${isNetworkError(err) ? offlineAdvice(a.repo) : ''}`.trim(),
          );
        }
        if (chunk.done) break;
        writeSync(fd, chunk.value);
        have += chunk.value.length;
        a.progress?.({ file: entry.path, done: have, total: size, phase: 'data' });
      }
    } finally {
      closeSync(fd);
    }
    if (have !== size) throw new PullError(`downloading ${entry.path}: got ${have} of ${size} bytes; pull again to resume`);
  }
  const sha256 = await sha256Of(incomplete);
  const actual = lfs ? sha256 : await gitBlobSha1(incomplete, size);
  const expected = lfs ?? entry.oid!;
  if (actual !== expected) {
    await fs.rm(incomplete, { force: true });
    throw new PullError(`${entry.path} failed its checksum: the Hub states ${checked}, the downloaded bytes hash to ${actual}; the partial file was deleted, pull again`);
  }
  await fs.rename(incomplete, blob);
  await link();
  a.progress?.({ file: entry.path, done: size, total: size, phase: 'done' });
  return { path: entry.path, size, sha256, checked, fetched: size - startedAt };
}

/** The record kept in the backbone's config: what was pulled, from where, at which commit. */
export function provenanceOf(p: Pulled): Record<string, unknown> {
  return {
    repo: p.repo,
    revision: p.revision,
    commit: p.commit,
    endpoint: p.endpoint,
    dtype: p.dtype,
    files: Object.fromEntries(p.files.map((f) => [f.path, { sha256: f.sha256, size: f.size, checked: f.checked }])),
  };
}

/** Whether a model directory holds this very pull (same repo, commit and ONNX file). */
export function holdsPull(m: ModelDir, p: Pulled): boolean {
  const imp = (m.config.modtune as { import?: { onnx_file?: string; hub?: { repo?: string; commit?: string } } } | undefined)?.import;
  return imp?.hub?.repo === p.repo && imp.hub.commit === p.commit && imp.onnx_file === p.onnxFile;
}

export function defaultName(repo: string, dtype: Dtype): string {
  const base = repo.split('/').pop()!.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return `${base || 'model'}${dtype === 'int8' ? '-int8' : ''}`.slice(0, 64);
}

/** The label map shipped for a repo (`<dir>/<owner>--<name>.yaml`), or null. */
export async function shippedLabelMap(dir: string, repo: string): Promise<Record<string, string | string[] | null> | null> {
  const file = path.join(dir, `${repo.replace('/', '--')}.yaml`);
  const text = await fs.readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  const map = parseYaml(text) as unknown;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new PullError(`${file}: a label map maps model labels to a category, a list of categories, or null`);
  return map as Record<string, string | string[] | null>;
}
