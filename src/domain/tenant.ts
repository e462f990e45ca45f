/** Who owns a row: every row belongs to one (account, region) pair, taken from the caller's credential scope. */
export interface Tenant {
  accountId: string;
  region: string;
}
