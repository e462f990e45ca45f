/**
 * The instance tables (migration 009): one row per launched instance, its validations, and this installation's
 * launch owner id. Only store/instances/ names them in SQL.
 */
import type { Kysely, Transaction } from 'kysely';
import type { HydrationState, InstanceState } from '../../domain/instance.ts';
import type { ValidationStatus } from '../../domain/instanceConsole.ts';
import type { Database } from '../schema.ts';

export interface InstancesTable {
  seq?: number;
  instance_id: string;
  account_id: string;
  region: string;
  app_id: string | null;
  server_id: string;
  ami_id: string;
  domain_name: string;
  state: InstanceState;
  state_message: string | null;
  hydration: HydrationState;
  hydration_message: string | null;
  plan: string;
  inputs: string | null;
  console_nonce: string;
  launched_at: number;
  boot_started_at: number | null;
  boot_deadline_at: number | null;
  booted_at: number | null;
  validation_deadline_at: number | null;
  hydrated_at: number | null;
  terminated_at: number | null;
  updated_at: number;
}

export interface InstanceValidationsTable {
  instance_id: string;
  validation_id: string;
  position: number;
  name: string;
  status: ValidationStatus;
  message: string | null;
  at: number | null;
}

export interface LaunchHostTable {
  id: number;
  owner_id: string;
  created_at: number;
}

export interface InstanceTables {
  instances: InstancesTable;
  instance_validations: InstanceValidationsTable;
  launch_host: LaunchHostTable;
}

export type InstanceRow = Required<Omit<InstancesTable, 'seq'>>;
export type ValidationRow = InstanceValidationsTable;

/** A connection or a transaction: every instance query runs on either, so callers keep their transactions. */
export type InstanceExecutor = Kysely<InstanceTables> | Transaction<InstanceTables>;

/** The store's database (or a transaction on it), seen with the instance tables. */
export const instanceDb = (db: Kysely<Database> | Transaction<Database> | Kysely<any>): InstanceExecutor => db as unknown as InstanceExecutor;
