/**
 * A standalone connector SIGKILLed at the worst moment: its image is finished (finishImage answered) but it has not
 * reported the run COMPLETED. A front (plain HTTP forwarding) kills the connector process when its `complete` call
 * arrives, before forwarding it. Started again on its token, the connector resumes the run it still holds: the
 * service tells it every block is committed, it sends none, finishImage gives the same image, and the run COMPLETES
 * with an image identical to the disk. Found by test/cluster/clusterScale.test.ts, where the resumed run sent blocks
 * into the finished image and FAILED ("is not being written here").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { GetConnectorsCommand, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ferryCli } from '../helpers/process.ts';
import { assertSameDisk, BLOCK, createJob, expectCompleted, exportImageDisk, getRun, importCatalog, logLines, spawnConnector, tempDir, waitFor, waitForLogLine, type ConnectorProcess } from '../helpers/replication.ts';
import { makeKvmVm, makeTempDatastore, MiB, type MadeVm } from '../helpers/vmFactory.ts';

const SIZE = 4 * MiB;

describe('a connector killed between finishImage and complete', () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let out: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  let vm: MadeVm;
  let front: Server;
  let frontUrl = '';
  const processes: ConnectorProcess[] = [];
  /** Set while the front is to kill the connector at its next `complete` call. */
  let killAtComplete: ConnectorProcess | undefined;
  let killedAtComplete = false;

  before(async () => {
    ds = await makeTempDatastore('ferry-resume-finished-');
    out = await tempDir();
    vm = await makeKvmVm(ds.dir, 'finished', { disks: [{ format: 'raw', sizeBytes: SIZE, content: { type: 'pattern', seed: 'finished' } }] });
    t = await startTestFerry({ compression: 'none' });
    const target = new URL(t.ferry.url);
    front = createServer((incoming, answer) => {
      if (killAtComplete && incoming.method === 'POST' && /\/runs\/[^/]+\/complete$/.test(incoming.url ?? '')) {
        const victim = killAtComplete;
        killAtComplete = undefined;
        void victim.kill().then(() => {
          killedAtComplete = true;
          answer.destroy();
        });
        return;
      }
      const upstream = httpRequest({ host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (reply) => {
        answer.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(answer);
      });
      upstream.on('error', () => answer.destroy());
      incoming.pipe(upstream);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const address = front.address();
    frontUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  after(async () => {
    for (const p of processes) await p.kill();
    await new Promise<void>((resolve) => front?.close(() => resolve()));
    await t?.close();
    await out?.cleanup();
    await ds?.cleanup();
  });

  let issued: { connectorId: string; token: string };
  let jobId = '';
  let current: ConnectorProcess;
  const start = () => {
    const p = spawnConnector({ server: frontUrl, token: issued.token, datastore: ds.dir });
    processes.push(p);
    current = p;
    return p;
  };

  test('restarted, it resumes the run, sends no block, and the run COMPLETES with the same image', async () => {
    issued = JSON.parse(await ferryCli(['connectors', 'register', '--json', '--data-dir', t.dataDir])) as { connectorId: string; token: string };
    const first = start();
    killAtComplete = first;
    await waitFor('the connector to be healthy', async () => {
      const list = (await t.sms.send(new GetConnectorsCommand({}))).connectorList ?? [];
      return list.find((c) => c.connectorId === issued.connectorId && c.status === 'HEALTHY');
    });
    const servers = await importCatalog(t.sms, ['finished']);
    const created = await createJob(t.sms, servers.get('finished')!.serverId!);
    jobId = created.jobId;
    const seedRunId = created.seedRunId;

    await waitFor('the connector to be killed at its complete call', () => (killedAtComplete ? true : undefined), { timeoutMs: 60_000 });
    const held = await getRun(t.sms, jobId, seedRunId);
    assert.equal(held?.state, 'ACTIVE', 'the run is still held by the dead connector');
    assert.equal(logLines(first.stdout(), 'replication run completed').length, 0);
    const imagesBefore = await t.ferry.plane.images.listImages();
    assert.equal(imagesBefore.length, 1, 'finishImage made the image before the kill');

    const second = start();
    const done = await expectCompleted(t.sms, jobId, seedRunId);
    assert.equal(done.amiId, imagesBefore[0]!.amiId, 'the run completes with the image finished before the kill');
    const totals = (await waitForLogLine(second.stdout, 'replication run completed', (l) => l.runId === seedRunId)) as Record<string, number>;
    assert.equal(totals.blocksSent, 0, `no block is sent again: ${JSON.stringify(totals)}`);
    assert.equal(totals.blocksSkippedAsCommitted, SIZE / BLOCK, `every block counts as committed: ${JSON.stringify(totals)}`);
    assert.equal((await t.ferry.plane.images.listImages()).length, 1, 'no second image');
    const exported = await exportImageDisk(t.ferry.plane.images, done.amiId, 0, 'raw', out.dir);
    await assertSameDisk(exported, 'raw', vm.disks[0]!.path, 'raw', 'the image');
  });
  test('a hash diff over its parent killed the same way: the resumed run asks nothing about the finished image and COMPLETES', async () => {
    // Found by test/cluster/clusterScale.test.ts: the resumed hash diff compared the disk's tail with its parent
    // after every block was committed, and the service, no longer writing the finished image, failed the run.
    await writeFile(vm.disks[0]!.path, Buffer.from('changed after the seed'), { flag: 'r+' });
    killedAtComplete = false;
    killAtComplete = current;
    const runId = (await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }))).replicationRunId!;
    await waitFor('the connector to be killed at its complete call', () => (killedAtComplete ? true : undefined), { timeoutMs: 60_000 });
    const imagesBefore = await t.ferry.plane.images.listImages();
    assert.equal(imagesBefore.length, 2, 'finishImage made the incremental image before the kill');
    const killed = current;
    assert.equal(logLines(killed.stdout(), 'replication run completed').filter((l) => l.runId === runId).length, 0);
    assert.ok(logLines(killed.stdout(), 'hash diff: every allocated block read, only the blocks that differ from the parent image sent and recorded').some((l) => l.runId === runId), 'the run was a hash diff');

    const next = start();
    const done = await expectCompleted(t.sms, jobId, runId);
    const totals = (await waitForLogLine(next.stdout, 'replication run completed', (l) => l.runId === runId)) as Record<string, number>;
    assert.equal(totals.blocksSent, 0, `no block is sent again: ${JSON.stringify(totals)}`);
    assert.equal((await t.ferry.plane.images.listImages()).length, 2, 'no third image');
    const exported = await exportImageDisk(t.ferry.plane.images, done.amiId, 0, 'raw', out.dir);
    await assertSameDisk(exported, 'raw', vm.disks[0]!.path, 'raw', 'the incremental image');
  });
});
