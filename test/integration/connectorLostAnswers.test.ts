/**
 * A connector whose calls reach the service but whose answers are lost: a node killed right after its commit, a
 * load balancer dropping the connection. Found by the cluster test (test/cluster/clusterScale.test.ts), where a
 * claim answered by the node that was then killed left its run ACTIVE, held by a connector that never knew, until
 * the lease ran out and the run FAILED; and a completion asked again was told the run was no longer the
 * connector's, so the run completed with no connector saying so.
 *
 * A standalone connector (in process, over HTTP) talks to the service through a front that, once, forwards a
 * request whole, waits for the service's answer, and then drops the connection instead of passing the answer on.
 * The lease is two days long here, so only the connector taking the run up again can end it within the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { Connector } from '../../src/agent/connector.ts';
import { HttpTransport } from '../../src/agent/httpTransport.ts';
import { issueConnector } from '../../src/core/connectors.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { createJob, expectCompleted, exportImageDisk, importCatalog, tempDir, waitFor } from '../helpers/replication.ts';
import { makeKvmVm, makeTempDatastore, MiB, type MadeVm } from '../helpers/vmFactory.ts';

/** A front that passes everything on, except that the answer to the first request matching `lose` never arrives. */
async function lossyFront(upstream: string, lose: RegExp): Promise<{ url: string; lost: string[]; close(): Promise<void> }> {
  const target = new URL(upstream);
  const lost: string[] = [];
  const server: Server = createServer((incoming, outgoing) => {
    const dropAnswer = lost.length === 0 && lose.test(incoming.url ?? '');
    if (dropAnswer) lost.push(`${incoming.method} ${incoming.url}`);
    const forwarded = request({ host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer) => {
      if (dropAnswer) {
        // Read the whole answer (the service has committed), then cut the client off without a byte of it.
        answer.resume();
        answer.on('end', () => incoming.socket.destroy());
        return;
      }
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    });
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    lost,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

for (const [call, lose] of [
  ['claim', /\/runs\/claim$/],
  ['complete', /\/runs\/[^/]+\/complete$/],
] as const) {
  describe(`a connector whose ${call} answer is lost`, { concurrency: false }, () => {
    let ds: { dir: string; cleanup: () => Promise<void> };
    let out: { dir: string; cleanup: () => Promise<void> };
    let t: TestFerry;
    let front: Awaited<ReturnType<typeof lossyFront>>;
    let connector: Connector;
    let vm: MadeVm;

    before(async () => {
      ds = await makeTempDatastore(`ferry-lost-${call}-`);
      out = await tempDir();
      vm = await makeKvmVm(ds.dir, 'answerless', { disks: [{ format: 'raw', sizeBytes: 4 * MiB, content: { type: 'pattern', seed: call } }] });
      t = await startTestFerry({ policy: { runLeaseMs: 2 * 86_400_000 } });
      front = await lossyFront(t.ferry.url, lose);
      const issued = await issueConnector(t.ferry.core, { accountId: t.ferry.root.accountId, region: 'us-east-1' }, `lost ${call}`);
      connector = new Connector({
        transport: new HttpTransport(front.url, issued.token),
        datastore: ds.dir,
        log: createLogger(process.env.FERRY_TEST_LOG_LEVEL ?? 'silent'),
        version: 'test',
        pollIntervalMs: 100,
      });
      await connector.start();
    });
    after(async () => {
      await connector?.stop();
      await front?.close();
      await t?.close();
      await out?.cleanup();
      await ds?.cleanup();
    });

    test('the run completes, once, and the connector knows it completed it', async () => {
      const servers = await importCatalog(t.sms, ['answerless']);
      const { jobId, seedRunId } = await createJob(t.sms, servers.get('answerless')!.serverId!);
      const run = await expectCompleted(t.sms, jobId, seedRunId);
      assert.equal(front.lost.length, 1, `the front lost one ${call} answer`);
      assert.match(front.lost[0]!, lose);
      // The service may answer COMPLETED while the connector still waits out its retry's backoff.
      const outcome = await waitFor('the connector to end the run', async () => connector.outcomes.get(seedRunId), { timeoutMs: 30_000, intervalMs: 50 });
      assert.equal(outcome.kind, 'completed', `the connector completed the run itself: ${JSON.stringify(outcome)}`);
      const exported = await exportImageDisk(t.ferry.plane.images, run.amiId, 0, 'raw', out.dir);
      assert.ok((await readFile(exported)).equals(await readFile(vm.disks[0]!.path)), 'the image is the disk');
    });
  });
}
