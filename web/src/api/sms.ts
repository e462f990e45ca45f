/** The AWS SDK's SMS client, pointed at the Ferry that served this page, and list helpers over its pages. */
import {
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  SMSClient,
  type Connector,
  type ReplicationJob,
  type ReplicationRun,
  type Server,
} from '@aws-sdk/client-sms';
import type { Session } from './session.ts';

export function smsClient(session: Session): SMSClient {
  return new SMSClient({
    region: session.region,
    endpoint: window.location.origin,
    credentials: { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey },
    // One attempt: the console shows errors and polls again itself; a wrong secret should fail at once.
    maxAttempts: 1,
  });
}

/** Every page of a paginated SMS list (at most 100 pages). */
export async function allPages<T>(fetchPage: (nextToken?: string) => Promise<{ items: T[]; nextToken?: string }>): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const result = await fetchPage(token);
    items.push(...result.items);
    token = result.nextToken;
    if (!token) break;
  }
  return items;
}

export function listConnectors(sms: SMSClient): Promise<Connector[]> {
  return allPages(async (nextToken) => {
    const out = await sms.send(new GetConnectorsCommand({ nextToken, maxResults: 100 }));
    return { items: out.connectorList ?? [], nextToken: out.nextToken };
  });
}

export interface Catalog {
  status?: string;
  lastModifiedOn?: Date;
  servers: Server[];
}

export async function getCatalog(sms: SMSClient): Promise<Catalog> {
  let status: string | undefined;
  let lastModifiedOn: Date | undefined;
  const servers = await allPages(async (nextToken) => {
    const out = await sms.send(new GetServersCommand({ nextToken, maxResults: 100 }));
    status = out.serverCatalogStatus;
    lastModifiedOn = out.lastModifiedOn;
    return { items: out.serverList ?? [], nextToken: out.nextToken };
  });
  return { status, lastModifiedOn, servers };
}

export function listJobs(sms: SMSClient): Promise<ReplicationJob[]> {
  return allPages(async (nextToken) => {
    const out = await sms.send(new GetReplicationJobsCommand({ nextToken, maxResults: 100 }));
    return { items: out.replicationJobList ?? [], nextToken: out.nextToken };
  });
}

export async function getJob(sms: SMSClient, replicationJobId: string): Promise<ReplicationJob | undefined> {
  const out = await sms.send(new GetReplicationJobsCommand({ replicationJobId }));
  return out.replicationJobList?.[0];
}

export function listRuns(sms: SMSClient, replicationJobId: string): Promise<ReplicationRun[]> {
  return allPages(async (nextToken) => {
    const out = await sms.send(new GetReplicationRunsCommand({ replicationJobId, nextToken, maxResults: 100 }));
    return { items: out.replicationRunList ?? [], nextToken: out.nextToken };
  });
}

/** Jobs that still hold their server (SMS allows one such job per server). */
export const LIVE_JOB_STATES = new Set(['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE', 'FAILING', 'DELETING']);
