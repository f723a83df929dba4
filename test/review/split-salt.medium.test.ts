/**
 * The split's salt: a deployment makes its own on first use and keeps it (every replica, every restart),
 * so which items are evaluated cannot be told from their text alone; SPLIT_SALT fixes it for experiments.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReviewService } from '../../src/review/review.service.js';
import { PolicyRegistry } from '../../src/policy/registry.js';
import { testDatabases } from '../helpers/db.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

for (const kind of testDatabases()) {
  describe(`the split salt (${kind.name})`, { skip: kind.skip }, () => {
    test('made once, secret (random), the same for every replica and restart; a configured one wins', async () => {
      const database = await kind.migrated();
      try {
        const registry = new PolicyRegistry(policies(reviewPolicy('default')), 'default');
        // Two replicas asking at once get the same salt.
        const [a, b] = await Promise.all([new ReviewService(database.db, registry).splitSalt(), new ReviewService(database.db, registry).splitSalt()]);
        assert.match(a, /^[0-9a-f]{64}$/);
        assert.equal(b, a);
        // A restart (a new service on the same database) finds it.
        assert.equal(await new ReviewService(database.db, registry).splitSalt(), a);
        const rows = await database.db.selectFrom('deployment_secrets').selectAll().execute();
        assert.deepEqual(rows.map((r) => r.name), ['split_salt']);
        // SPLIT_SALT (experiments) is used as given, and stores nothing.
        assert.equal(await new ReviewService(database.db, registry, undefined, 'fixed').splitSalt(), 'fixed');
      } finally {
        await database.destroy();
      }
    });
  });
}
