/** Errors of the inference path that callers tell apart by type. */

/**
 * A batch its worker did not answer in time (a hung session). The pool fails it and replaces the worker;
 * the batcher does not split and retry it, since the fault is the worker's, not one input's.
 */
export class InferenceTimeout extends Error {
  constructor(ms: number, message = `inference did not finish within ${ms} ms`) {
    super(message);
    this.name = 'InferenceTimeout';
  }
}

/** Inference could not run: a worker exited or failed to start, or the pool is shutting down. */
export class InferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InferenceError';
  }
}
