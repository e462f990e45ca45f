/**
 * The one tenancy filter: every row of a tenant's table carries its (account, region) pair, and a query sees only
 * the caller's tenant's rows. `db.selectFrom('servers').where(inTenant(tenant))` (also on updates and deletes); in a
 * join, name the table whose pair counts: `.where(inTenant(tenant, 'runs'))`. A table without both columns does not
 * type-check.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { Tenant } from '../domain/tenant.ts';

type TenantColumns = { account_id: string; region: string };

/** The tables of a schema whose rows belong to one tenant (they have both columns). */
export type TenantTable<DB> = { [T in keyof DB]: DB[T] extends TenantColumns ? T : never }[keyof DB];

/** The filter, for whichever schema and tables the query has (the compiler checks them where it is used). */
export type TenantFilter = <DB, TB extends TenantTable<DB>>(eb: ExpressionBuilder<DB, TB>) => Expression<SqlBool>;

/** In a join: the named table's pair (the other tables joined may have none). */
export type QualifiedTenantFilter = <DB, TB extends keyof DB>(eb: ExpressionBuilder<DB, TB>) => Expression<SqlBool>;

export function inTenant(tenant: Tenant): TenantFilter;
export function inTenant(tenant: Tenant, table: string): QualifiedTenantFilter;
export function inTenant(tenant: Tenant, table?: string): TenantFilter {
  const account = (table ? `${table}.account_id` : 'account_id') as 'account_id';
  const region = (table ? `${table}.region` : 'region') as 'region';
  return (eb) => {
    // One concrete table stands for TB: the compiler cannot resolve a column reference over a generic table set.
    const scoped = eb as unknown as ExpressionBuilder<{ tenant_rows: TenantColumns }, 'tenant_rows'>;
    return scoped.and([scoped(account, '=', tenant.accountId), scoped(region, '=', tenant.region)]);
  };
}
