/** Which errors mean "the database is down" (503, retry later) rather than a bug (500). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDatabaseUnavailable } from '../../src/http/middleware/errors.js';

test('errors pg raises while PostgreSQL is stopping, stopped, starting or out of connections, memory or disk count as unavailable', () => {
  const down = [
    { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' },
    { code: 'ECONNRESET', message: 'read ECONNRESET' },
    { code: '57P01', message: 'terminating connection due to administrator command' },
    { code: '57P03', message: 'the database system is starting up' },
    { message: 'timeout exceeded when trying to connect' },
    { message: 'Connection terminated unexpectedly' },
    { message: 'Client has encountered a connection error and is not queryable' },
    { message: 'Client was closed and is not queryable' },
    { message: 'the database system is not yet accepting connections' },
    { message: 'the database system is shutting down' },
    { code: '53300', message: 'sorry, too many clients already' },
    { code: '53300', message: 'too many connections for role "modtune"' },
    { code: '53100', message: 'could not extend file "base/16384/16385": No space left on device' },
    { code: '53200', message: 'out of memory' },
  ];
  for (const e of down) assert.equal(isDatabaseUnavailable(Object.assign(new Error(e.message), e)), true, e.message);
});

test('other errors are not mistaken for an outage', () => {
  const bugs = [
    { code: '23505', message: 'duplicate key value violates unique constraint "decisions_pkey"' },
    { code: '42P01', message: 'relation "nope" does not exist' },
    { code: '22P02', message: 'invalid input syntax for type uuid: "53300"' },
    { code: '530', message: 'not a SQLSTATE' },
    { message: "Cannot read properties of undefined (reading 'id')" },
    null,
    undefined,
  ];
  for (const e of bugs) assert.equal(isDatabaseUnavailable(e ? Object.assign(new Error(e.message), e) : e), false, String(e?.message));
});
