import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// Every decision is made on an item of its own (the service stores an item and its decision together),
// and both rows carried the client key that sent it: 16 bytes of every decision row said what its item
// already says. A decision's client is now its item's (`getDecision` and `decisionToAppeal` read it
// there). A decision whose key differs from its item's (never one the service wrote) stops the migration,
// naming how many, with nothing changed. Down copies the item's key back.
export async function up(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ n: string }>`
    select count(*) as n from decisions d join content_items i on i.id = d.item_id
    where d.client_key_id is distinct from i.client_key_id`.execute(db);
  if (Number(rows[0].n) > 0) {
    throw new Error(`0020: ${rows[0].n} decisions name a client key other than their item's; nothing was changed`);
  }
  await sql`alter table decisions drop column client_key_id`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table decisions add column client_key_id uuid references api_keys(id)`.execute(db);
  await sql`update decisions d set client_key_id = i.client_key_id from content_items i where i.id = d.item_id and i.client_key_id is not null`.execute(db);
}
