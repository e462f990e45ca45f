import type { GetReplicationJobsRequest, GetReplicationJobsResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation, type RequestContext } from './operation.ts';
import { str } from '../api/schema.ts';
import { listJobRows, listJobs, type JobRowPage } from '../core/jobs.ts';
import { EncodedJson } from '../protocol/awsJson.ts';
import { jobJsonMemo } from './jobPageJson.ts';
import { toJob } from './mappers.ts';

type Input = GetReplicationJobsRequest;

/**
 * The page as JSON text written straight from the rows (operations/jobPageJson.ts), not mapped with toJob and then
 * stringified: see the bench figure there. mappedJobPage is the mapping it is held to (test/unit/jobPageEncoding.test.ts).
 */
export async function encodedJobPage({ core, tenant }: Pick<RequestContext, 'core' | 'tenant'>, input: Input): Promise<EncodedJson> {
  const page = await listJobRows(core, tenant, input);
  let encoded = encodedPages.get(page);
  if (!encoded) {
    const memo = jobJsonMemo(core.db);
    const jobs = page.rows.map((row) => memo.json(row)).join(',');
    const token = page.nextToken === undefined ? '' : `,"nextToken":${JSON.stringify(page.nextToken)}`;
    encodedPages.set(page, (encoded = new EncodedJson(`{"replicationJobList":[${jobs}]${token}}`)));
  }
  return encoded;
}

/** A page the store gave again unchanged (core/jobs.ts listJobRows) is answered with the text (and bytes) it had. */
const encodedPages = new WeakMap<JobRowPage, EncodedJson>();

/** The same page mapped to the SDK's shapes. */
export async function mappedJobPage({ core, tenant }: Pick<RequestContext, 'core' | 'tenant'>, input: Input): Promise<GetReplicationJobsResponse> {
  const page = await listJobs(core, tenant, input);
  return { replicationJobList: page.jobs.map((job) => toJob(job, page.latestRuns.get(job.replication_job_id))), nextToken: page.nextToken };
}

export const getReplicationJobs: Operation<Input, GetReplicationJobsResponse | EncodedJson> = {
  input: { replicationJobId: str(), ...pageMembers },
  handle: (input, ctx) => encodedJobPage(ctx, input),
};
