/** Accounts (tenants): ids, unique names, creation time. Their access keys are the keys repository's. */
import type { Executor } from '../executor.ts';

export interface AccountRecord {
  accountId: string;
  name: string;
  createdAt: number;
}

export async function idByName(db: Executor, name: string): Promise<string | undefined> {
  return (await db.selectFrom('accounts').select('account_id').where('name', '=', name).executeTakeFirst())?.account_id;
}

export async function idExists(db: Executor, accountId: string): Promise<boolean> {
  return (await db.selectFrom('accounts').select('account_id').where('account_id', '=', accountId).executeTakeFirst()) !== undefined;
}

export async function insert(db: Executor, account: AccountRecord): Promise<void> {
  await db.insertInto('accounts').values({ account_id: account.accountId, name: account.name, created_at: account.createdAt }).execute();
}

/** The account whose id or name is `nameOrId`. */
export async function byIdOrName(db: Executor, nameOrId: string): Promise<AccountRecord | undefined> {
  const row = await db
    .selectFrom('accounts')
    .selectAll()
    .where((eb) => eb.or([eb('account_id', '=', nameOrId), eb('name', '=', nameOrId)]))
    .executeTakeFirst();
  return row && { accountId: row.account_id, name: row.name, createdAt: row.created_at };
}

/** Every account, oldest first. */
export async function list(db: Executor): Promise<AccountRecord[]> {
  const rows = await db.selectFrom('accounts').selectAll().orderBy('created_at').execute();
  return rows.map((r) => ({ accountId: r.account_id, name: r.name, createdAt: r.created_at }));
}
