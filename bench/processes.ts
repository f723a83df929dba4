/** Child processes for the benches: a server started and its port read from its output, stopped, a free port. */
import { spawn, type ChildProcess } from 'node:child_process';

export async function startProcess(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  portLine: RegExp | null,
): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
  child.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
  const output = () => out;
  if (!portLine) return { child, port: 0, output };
  const port = await new Promise<number>((resolve, reject) => {
    const t = setInterval(() => {
      const m = portLine.exec(out);
      if (m) {
        clearInterval(t);
        resolve(Number(m[1]));
      } else if (child.exitCode !== null) {
        clearInterval(t);
        reject(new Error(`${args.join(' ')} exited:\n${out.slice(-2000)}`));
      }
    }, 50);
  });
  return { child, port, output };
}

/**
 * Sends the texts to /v1/moderate one per request, 8 requests at a time (`bearer`: the key to send, if any);
 * every answer must be a 200.
 */
export async function driveModerate(port: number, input: string[], bearer?: string): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < input.length) {
        const body = JSON.stringify({ input: input[next++] });
        const r = await fetch(`http://127.0.0.1:${port}/v1/moderate`, { method: 'POST', headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) }, body });
        if (!r.ok) throw new Error(`moderate: HTTP ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
      }
    }),
  );
}

/** Resolves once the service on `port` answers /readyz with a 200; throws if `child` exits first. */
export async function waitReady(child: ChildProcess, port: number, what: string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what}: the service exited during start-up`);
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

/** A free port on loopback, chosen here: the service logs at warn level, so it does not announce one. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
