// Under tsx (npm run dev, tests) worker threads start here (build-layout.ts: the compiled build starts
// them from their .js files). Node 20 cannot start a worker from a .ts file with --import tsx, so this
// registers tsx's loader and then imports the worker module named in workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
