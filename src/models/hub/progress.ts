/**
 * What model:pull prints while it downloads: a bar redrawn in place on a terminal (at most every 100 ms,
 * and at each file's start and end), plain lines otherwise (logs, CI); a file found in the cache is one
 * line either way.
 */
import { systemClock, type Clock } from '../../clock.js';
import type { PullProgress } from './pull.js';

/** Bytes as megabytes, one decimal. */
export const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** A bar on a terminal, plain lines otherwise (logs, CI). */
export function progressPrinter(stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>, clock: Clock = systemClock): (p: PullProgress) => void {
  let last = 0;
  return (p) => {
    if (p.phase === 'cached') return void stream.write(`  ${p.file}: in the cache (${mb(p.total)})\n`);
    if (!stream.isTTY) {
      if (p.phase === 'start') stream.write(`  ${p.file}: fetching ${mb(p.total)}${p.done ? `, resuming at ${mb(p.done)}` : ''}\n`);
      if (p.phase === 'done') stream.write(`  ${p.file}: done\n`);
      return;
    }
    const now = clock.now();
    if (p.phase === 'data' && now - last < 100) return;
    last = now;
    const width = 30;
    const frac = p.total ? p.done / p.total : 1;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    stream.write(`\r  ${p.file} [${bar}] ${(100 * frac).toFixed(0).padStart(3)}% ${mb(p.done)} / ${mb(p.total)}${p.phase === 'done' ? '\n' : ''}`);
  };
}
