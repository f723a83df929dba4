/**
 * CPU time per thread group from /proc (Linux): a process's main thread, its inference workers (threads
 * named mt-infer-N, and the ORT threads they start, which inherit the name), the embedded database's
 * thread (mt-pglite), its other threads (V8's garbage collector and compiler helpers, libuv's pool), and
 * PostgreSQL's processes. Used by bench:score
 * to split request-path CPU from inference CPU per text.
 */
import fs from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

export interface CpuSample {
  main: number;
  inference: number;
  /** The embedded database's thread (mt-pglite). */
  pglite: number;
  otherThreads: number;
  postgres: number;
}

function stat(file: string): { comm: string; ms: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null; // the thread or process ended between listing and reading
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  // Fields after the comm: state is field 3, utime 14, stime 15 (1-based in proc(5)).
  return { comm: text.slice(open + 1, close), ms: (Number(rest[11]) + Number(rest[12])) * TICK_MS };
}

/** Per-pid CPU of every PostgreSQL process on the host (backends come and go; deltas are per pid). */
function postgresTimes(): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(`/proc/${d}/stat`);
    if (s && s.comm === 'postgres') out.set(Number(d), s.ms);
  }
  return out;
}

export interface CpuMeter {
  /** CPU ms per group since the meter was created. */
  read(): CpuSample;
}

export function available(): boolean {
  return fs.existsSync('/proc/self/task');
}

export function meter(pid: number): CpuMeter {
  const threads = () => {
    const s: CpuSample = { main: 0, inference: 0, pglite: 0, otherThreads: 0, postgres: 0 };
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const t = stat(`/proc/${pid}/task/${tid}/stat`);
      if (!t) continue;
      if (Number(tid) === pid) s.main += t.ms;
      else if (t.comm.startsWith('mt-infer')) s.inference += t.ms;
      else if (t.comm === 'mt-pglite') s.pglite += t.ms;
      else s.otherThreads += t.ms;
    }
    return s;
  };
  const t0 = threads();
  const pg0 = postgresTimes();
  return {
    read() {
      const t1 = threads();
      let postgres = 0;
      for (const [p, ms] of postgresTimes()) postgres += ms - (pg0.get(p) ?? 0);
      return { main: t1.main - t0.main, inference: t1.inference - t0.inference, pglite: t1.pglite - t0.pglite, otherThreads: t1.otherThreads - t0.otherThreads, postgres };
    },
  };
}

/** Resident set size and its peak, in MB. */
export function memory(pid: number): { rssMb: number; peakMb: number } {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}
