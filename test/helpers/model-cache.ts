/**
 * Models that tests build once per machine and cache under os.tmpdir()/modtune-test-models/<name>-<key>.
 * The key hashes the builder's sources and the build's parameters: a change to the builder gives a fresh
 * model, an unchanged one is reused at no cost. Test processes run in parallel, so each builds into its
 * own temp directory and renames it into place; whoever loses the race deletes its copy and uses the
 * winner's. A directory counts as built when it has model.onnx, tokenizer.json and config.json.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './repo.js';

const ROOT = join(tmpdir(), 'modtune-test-models');
const FILES = ['model.onnx', 'tokenizer.json', 'config.json'];

export class ModelCache {
  private readonly inProcess = new Map<string, Promise<string>>();
  private sourceHash: Promise<string> | undefined;

  /** `sources`: the directories (their .ts files) and files, relative to the repository, the model bytes depend on. */
  constructor(
    private readonly name: string,
    private readonly sources: { dirs: string[]; files: string[] },
  ) {}

  /** The cached model for `params`, built into a fresh directory by `build` the first time. Treat it as read-only. */
  async dir(params: unknown, build: (outDir: string) => Promise<unknown>): Promise<string> {
    const key = await this.key(params);
    let pending = this.inProcess.get(key);
    if (!pending) {
      pending = this.ensureBuilt(key, build);
      this.inProcess.set(key, pending);
      pending.catch(() => this.inProcess.delete(key));
    }
    return pending;
  }

  private async key(params: unknown): Promise<string> {
    this.sourceHash ??= this.hashSources();
    return createHash('sha256')
      .update(await this.sourceHash)
      .update(JSON.stringify(params))
      .digest('hex')
      .slice(0, 16);
  }

  private async hashSources(): Promise<string> {
    const hash = createHash('sha256');
    const files = [...this.sources.files];
    for (const dir of this.sources.dirs) {
      for (const name of (await readdir(join(REPO, dir))).sort()) if (name.endsWith('.ts')) files.push(join(dir, name));
    }
    for (const file of files.sort()) hash.update(file).update('\0').update(await readFile(join(REPO, file))).update('\0');
    return hash.digest('hex');
  }

  private async ensureBuilt(key: string, build: (outDir: string) => Promise<unknown>): Promise<string> {
    const final = join(ROOT, `${this.name}-${key}`);
    if (await isComplete(final)) return final;
    await mkdir(ROOT, { recursive: true });
    await removeAbandonedBuilds();
    const work = join(ROOT, `.build-${this.name}-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const built = join(work, 'model');
      await build(built);
      try {
        await rename(built, final);
      } catch (err) {
        // Another process renamed its copy first; theirs is identical (same key), so use it.
        if (!(await isComplete(final))) throw err;
      }
      return final;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** A test process killed mid-build leaves its work directory behind; an hour later nobody is using it. */
async function removeAbandonedBuilds(): Promise<void> {
  const names = await readdir(ROOT).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith('.build-'))) {
    const dir = join(ROOT, name);
    const info = await stat(dir).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(dir, { recursive: true, force: true });
  }
}

async function isComplete(dir: string): Promise<boolean> {
  for (const file of FILES) {
    try {
      await stat(join(dir, file));
    } catch {
      return false;
    }
  }
  return true;
}
