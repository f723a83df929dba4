/**
 * The README's API table and the OpenAPI document say the same: every operation has a row and every row
 * names operations (or one of the two pages), with the roles the operation accepts and the success
 * statuses it answers (the document's `responses`, from the same declarations).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { operations } from '../../src/http/openapi.js';
import { ROOT } from '../helpers/source-scan.js';

/** The pages, served as static files: in the README's table, not operations of the API. */
const PAGES = ['GET /review', 'GET /dashboard'];

interface Row {
  routes: string[];
  roles: string;
  success: string;
}

/** The API table's rows: the routes of the first cell (query strings dropped), the role and success cells. */
function readmeRows(readme: string): Row[] {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| Endpoint | Role | Success |'));
  assert.ok(start >= 0, "the README's API table has the columns Endpoint, Role, Success");
  const rows: Row[] = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith('|'); i++) {
    const [endpoints, roles, success] = lines[i].slice(2).split(' | ');
    const routes = [...endpoints.matchAll(/`(GET|POST|DELETE) ([^`?\s]+)[^`]*`/g)].map((m) => `${m[1]} ${m[2]}`);
    rows.push({ routes, roles: roles.trim(), success: success.trim() });
  }
  return rows;
}

/** The README's words for the roles an operation declares (admin may call everything). */
function rolesInWords(roles: readonly string[]): string {
  if (roles.includes('public')) return '—';
  if (roles.length === 0) return 'admin';
  if (roles.includes('client') && roles.includes('moderator')) return 'client, moderator';
  return roles.join(', ');
}

test("the README's API table and the OpenAPI document agree on routes, roles and success statuses", () => {
  const rows = readmeRows(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  const ops = new Map(operations().map((o) => [`${o.method.toUpperCase()} ${o.path}`, o]));
  const problems: string[] = [];
  const inReadme = new Set<string>();
  for (const row of rows) {
    if (row.routes.length === 0) problems.push(`a row names no route: ${row.roles} | ${row.success}`);
    for (const route of row.routes) {
      inReadme.add(route);
      const op = ops.get(route);
      if (!op) {
        if (!PAGES.includes(route)) problems.push(`${route}: in the README, not in the document`);
        continue;
      }
      const roles = rolesInWords(op.roles);
      // `/v1/me` answers any key: the README says so in words.
      if (row.roles !== roles && !(row.roles === 'any key' && roles === 'client, moderator')) problems.push(`${route}: the README says role ${row.roles}, the document ${roles}`);
      const statuses = [op.status ?? 200, ...(op.alsoStatus ?? [])].join(', ');
      if (row.success !== statuses) problems.push(`${route}: the README says ${row.success}, the document ${statuses}`);
    }
  }
  for (const route of ops.keys()) if (!inReadme.has(route)) problems.push(`${route}: in the document, not in the README`);
  assert.deepEqual(problems, []);
});

test("the table's reader sees routes, roles and statuses (self-check)", () => {
  const rows = readmeRows(['| Endpoint | Role | Success | |', '|---|---|---|---|', '| `GET /v1/items?external_id=` or `?author_id=`, `DELETE /v1/items/:id` | admin | 201, 200 | words |'].join('\n'));
  assert.deepEqual(rows, [{ routes: ['GET /v1/items', 'DELETE /v1/items/:id'], roles: 'admin', success: '201, 200' }]);
});
