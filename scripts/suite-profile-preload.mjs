// Loaded with --import into every Node process and worker thread of a profiled suite run
// (scripts/suite-profile.ts): samples the thread's JavaScript and WebAssembly with V8's profiler and writes
// the profile to SUITE_PROFILE_DIR when the thread exits. A process killed with SIGKILL leaves none.
import fs from 'node:fs';
import inspector from 'node:inspector';
import { threadId } from 'node:worker_threads';

const dir = process.env.SUITE_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 2000 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // The inspector answers on this thread, synchronously: the profile is written before the exit.
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      const file = `${dir}/${process.pid}.${threadId}.${Date.now()}.json`;
      fs.writeFileSync(file, JSON.stringify({ argv: process.argv.slice(1), thread: threadId, profile: result.profile }));
    });
  });
}
