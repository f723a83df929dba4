/**
 * Where a CLI that touches the database does its work. On PostgreSQL every process may connect, so a
 * CLI opens the database itself. An embedded database on disk belongs to one process (data-dir-lock.ts):
 * when a server holds it, the CLI goes through that server's admin API (its address from the lock, or
 * `--server URL`) with the admin key in MODTUNE_ADMIN_KEY; when another CLI holds it, the CLI refuses
 * and says what to do; when nobody does, it opens the files itself (holding the lock while it works, so
 * a server started meanwhile refuses instead of corrupting them).
 */
import type { Config } from '../config.js';
import { dataDirHolder, LOCK_FILE, SERVER_COMMAND } from '../db/data-dir-lock.js';

export type Target = { kind: 'direct' } | { kind: 'server'; url: string; key: string; why: string } | { kind: 'refuse'; message: string };

/** The flag every such CLI accepts, for parseArgs. */
export const SERVER_OPTION = { server: { type: 'string' as const } };
export const SERVER_USAGE = `  --server URL                    go through the admin API of the modtune server at URL (default: the
                                  server that holds DATA_DIR, if one does); needs MODTUNE_ADMIN_KEY`;

export async function resolveTarget(config: Config, serverFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  const key = env.MODTUNE_ADMIN_KEY?.trim();
  const needKey = (url: string, why: string): Target =>
    key
      ? { kind: 'server', url: url.replace(/\/+$/, ''), key, why }
      : {
          kind: 'refuse',
          message:
            `${why}, so this command goes through its admin API at ${url}: set MODTUNE_ADMIN_KEY to an admin key of that server ` +
            `(the one printed at its first start, or one from POST /v1/admin/api-keys) and run it again.`,
        };
  if (serverFlag !== undefined) {
    let url: URL;
    try {
      url = new URL(serverFlag);
    } catch {
      return { kind: 'refuse', message: `--server '${serverFlag}' is not a URL (e.g. http://127.0.0.1:8080)` };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { kind: 'refuse', message: `--server must be an http(s) URL, not '${serverFlag}'` };
    return needKey(url.toString(), '--server was given');
  }
  if (config.database.url) return { kind: 'direct' };
  const holder = await dataDirHolder(config.database.dataDir);
  if (!holder) return { kind: 'direct' };
  if (holder.url) return needKey(holder.url, `${holder.command} (pid ${holder.pid}) holds the embedded database in ${config.database.dataDir}`);
  return {
    kind: 'refuse',
    message:
      `the embedded database in ${config.database.dataDir} is in use by ${holder.command} (pid ${holder.pid} on ${holder.hostname}, since ${holder.since})` +
      `${holder.command === SERVER_COMMAND ? ', which is still starting: run this again once it listens' : ': wait for it to finish and run this again'}. ` +
      `Only one process may open an embedded database; if none is running any more, delete ${config.database.dataDir}/${LOCK_FILE}.`,
  };
}

export class ServiceError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** One admin API call; a non-2xx answer throws ServiceError with the server's message. */
export async function callService<T>(target: { url: string; key: string }, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${target.key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    throw new ServiceError(`could not reach the modtune server at ${target.url} (${cause}); is it running?`, 0, null);
  }
  const data = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok) {
    throw new ServiceError(`the server at ${target.url} answered ${res.status}: ${data.error?.message ?? res.statusText}`, res.status, data.error?.code ?? null);
  }
  return data as T;
}
