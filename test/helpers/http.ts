/** Assertions on HTTP answers shared by the controller and medium tests. */
import assert from 'node:assert/strict';
import type { ErrorCode } from '../../src/errors.js';

/** An error answer: this status, this code, a message in words (matching `message` when given). */
export function expectError(res: { status: number; body: { error?: { code: string; message: string } } }, status: number, code: ErrorCode, message?: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error?.code, code);
  assert.equal(typeof res.body.error?.message, 'string');
  if (message) assert.match(res.body.error!.message, message);
}
