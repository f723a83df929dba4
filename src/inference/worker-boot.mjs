// Node 20 cannot start a worker from a .ts file with --import tsx; register tsx's loader here first.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
