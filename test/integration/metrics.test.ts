/**
 * GET /metrics after real work: a run driven by the scripted connector moves the request counters (by operation
 * and outcome, with latencies), the run and job gauges, the finished-run counter and duration histogram, and the
 * connector gauge; a run of the embedded connector moves the bytes read and sent and the image store gauges. The
 * exposition names no account, and a caller cannot invent label values.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';
import { createJob, expectCompleted, importCatalog, waitFor } from '../helpers/replication.ts';
import { makeKvmVm, makeTempDatastore, MiB } from '../helpers/vmFactory.ts';

type Samples = Map<string, number>;

/** Parses the text exposition into `name{labels}` → value (labels as written, sorted by the client). */
function parse(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

async function scrape(t: TestFerry): Promise<{ text: string; samples: Samples }> {
  const response = await fetch(`${t.ferry.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, samples: parse(text) };
}

const value = (samples: Samples, key: string): number => samples.get(key) ?? 0;

describe('GET /metrics', () => {
  let t: TestFerry;
  before(async () => {
    t = await startTestFerry();
  });
  after(async () => {
    await t?.close();
  });

  test('a scripted run moves the request, run, job, duration and connector metrics', async () => {
    const before = (await scrape(t)).samples;
    const connector = await t.connector();
    await connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    await connector.heartbeat();
    await connector.inventory(vms(1));
    const serverId = (await t.sms.send(new GetServersCommand({}))).serverList![0]!.serverId!;
    const { replicationJobId } = await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), frequency: 12 }));
    const run = await connector.claimWhenDue();
    await connector.progress(run.replicationRunId, 'Uploading', '50%');
    await connector.completeWithImage(run.replicationRunId);
    await assert.rejects(t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: 'sms-job-00000000' })), { name: 'ReplicationJobNotFoundException' });
    // An unknown operation is rejected before authentication: its name must not become a label value.
    const bogus = await fetch(t.ferry.url, {
      method: 'POST',
      headers: { 'x-amz-target': 'AWSServerMigrationService_V2016_10_24.MadeUpOperationXyz', 'content-type': 'application/x-amz-json-1.1' },
      body: '{}',
    });
    assert.equal(bogus.status, 400);

    // The duration is read from the store after the COMPLETED event: wait for it rather than race it.
    const { text, samples } = await waitFor('the run duration to be observed', async () => {
      const scraped = await scrape(t);
      return value(scraped.samples, 'ferry_run_duration_seconds_count{outcome="COMPLETED"}') >= 1 ? scraped : undefined;
    });
    const moved = (key: string) => value(samples, key) - value(before, key);

    assert.equal(moved('ferry_api_requests_total{operation="CreateReplicationJob",outcome="success"}'), 1);
    assert.equal(moved('ferry_api_requests_total{operation="ImportServerCatalog",outcome="success"}'), 1);
    assert.equal(moved('ferry_api_requests_total{operation="DeleteReplicationJob",outcome="ReplicationJobNotFoundException"}'), 1);
    assert.equal(moved('ferry_api_requests_total{operation="unknown",outcome="UnknownOperationException"}'), 1);
    assert.ok(!text.includes('MadeUpOperationXyz'), 'a caller-chosen operation name is not a label value');
    assert.equal(moved('ferry_api_request_duration_seconds_count{operation="CreateReplicationJob"}'), 1);
    assert.ok(value(samples, 'ferry_api_request_duration_seconds_sum{operation="CreateReplicationJob"}') > 0);
    assert.equal(moved('ferry_api_request_duration_seconds_bucket{le="+Inf",operation="CreateReplicationJob"}'), 1);
    // The connector API is counted by route pattern (no run ids in labels).
    assert.equal(moved('ferry_api_requests_total{operation="POST /ferry/connector/v1/register",outcome="success"}'), 1);
    const connectorRoutes = [...samples.keys()].filter((k) => k.startsWith('ferry_api_requests_total{operation="POST /ferry/connector/v1/runs/'));
    assert.ok(connectorRoutes.length >= 2, `run routes counted: ${connectorRoutes.join(', ')}`);
    assert.ok(connectorRoutes.every((k) => !k.includes(run.replicationRunId)), 'no run id in a label');

    assert.equal(value(samples, 'ferry_replication_runs{state="COMPLETED"}'), 1);
    assert.equal(value(samples, 'ferry_replication_runs{state="PENDING"}'), 1, 'the next automatic run is planned');
    assert.equal(value(samples, 'ferry_replication_runs{state="ACTIVE"}'), 0);
    assert.equal(value(samples, 'ferry_replication_jobs{state="ACTIVE"}'), 1);
    assert.equal(moved('ferry_runs_finished_total{outcome="COMPLETED"}'), 1);
    assert.equal(moved('ferry_run_duration_seconds_count{outcome="COMPLETED"}'), 1);
    assert.equal(value(samples, 'ferry_connectors{status="HEALTHY"}'), 1);
    assert.equal(value(samples, 'ferry_connectors{status="UNHEALTHY"}'), 0);
    assert.ok(value(samples, 'ferry_scheduler_ticks_total') >= 1);
    assert.ok(samples.has('ferry_scheduler_lag_seconds'));
    assert.ok(samples.has('process_cpu_user_seconds_total'), 'default process metrics are exposed');
    assert.ok(samples.has('nodejs_eventloop_lag_seconds'));
    assert.ok(!text.includes(t.ferry.root.accountId), 'no account id anywhere in the exposition');
    assert.ok(!text.includes(replicationJobId!), 'no job id anywhere in the exposition');

    await connector.heartbeat('UNHEALTHY');
    const later = (await scrape(t)).samples;
    assert.equal(value(later, 'ferry_connectors{status="HEALTHY"}'), 0);
    assert.equal(value(later, 'ferry_connectors{status="UNHEALTHY"}'), 1);
    // Scrapes are requests like any other (each is counted once answered, so this one shows the earlier ones).
    assert.ok(value(later, 'ferry_api_requests_total{operation="GET /metrics",outcome="success"}') >= 2);
  });
});

describe('GET /metrics with the embedded connector', () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  before(async () => {
    ds = await makeTempDatastore('ferry-metrics-');
    await makeKvmVm(ds.dir, 'metered', { disks: [{ format: 'raw', sizeBytes: 4 * MiB, content: { type: 'pattern', seed: 'metered' } }] });
    t = await startTestFerry({ datastore: ds.dir, connectorPollMs: 100 });
  });
  after(async () => {
    await t?.close();
    await ds?.cleanup();
  });

  test('a replication run moves the bytes read, sent and stored', async () => {
    const before = (await scrape(t)).samples;
    assert.equal(value(before, 'ferry_connector_bytes_read_total'), 0);
    const servers = await importCatalog(t.sms, ['metered']);
    const { jobId, seedRunId } = await createJob(t.sms, servers.get('metered')!.serverId!);
    await expectCompleted(t.sms, jobId, seedRunId);
    // The connector reports its totals just after the service recorded the completion, and the run's duration is
    // read from the store after the COMPLETED event (a round trip of its own on PostgreSQL): wait for both.
    const samples = await waitFor('the connector totals and the run duration', async () => {
      const scraped = (await scrape(t)).samples;
      const observed = value(scraped, 'ferry_run_duration_seconds_count{outcome="COMPLETED"}') >= 1;
      return value(scraped, 'ferry_connector_bytes_sent_total') > 0 && observed ? scraped : undefined;
    });
    assert.equal(value(samples, 'ferry_connector_bytes_read_total'), 4 * MiB, 'the whole pattern disk was read');
    assert.equal(value(samples, 'ferry_connector_bytes_sent_total'), 4 * MiB, 'every distinct block was sent once (512 KiB each)');
    assert.ok(value(samples, 'ferry_image_store_bytes') > 0);
    assert.equal(value(samples, 'ferry_image_store_blocks'), 8);
    assert.equal(value(samples, 'ferry_image_store_raw_bytes'), 4 * MiB);
    assert.equal(value(samples, 'ferry_runs_finished_total{outcome="COMPLETED"}'), 1);
    assert.ok(value(samples, 'ferry_run_duration_seconds_sum{outcome="COMPLETED"}') > 0);
    assert.equal(value(samples, 'ferry_connectors{status="HEALTHY"}'), 1);
  });
});
