/** Who owns a row: every row belongs to one (account, region) pair, taken from the caller's credential scope. */
export interface Tenant {
  accountId: string;
  region: string;
}

/** The tenant a stored row belongs to (every table keeps it as `account_id` and `region`). */
export function tenantOf(row: { account_id: string; region: string }): Tenant {
  return { accountId: row.account_id, region: row.region };
}
