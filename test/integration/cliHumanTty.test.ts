/**
 * The human CLI on a terminal: `ferry runs watch` draws a cli-progress bar (stage, percent, bytes, throughput,
 * ETA) in a pseudo-terminal made by util-linux's `script`, and `ferry images export` draws its bar there while it
 * prints plain progress lines into a pipe. Output and exit codes are asserted in both cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CreateReplicationJobCommand, GetReplicationRunsCommand, GetServersCommand, ImportServerCatalogCommand } from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { makeKvmVm, makeTempDatastore } from '../helpers/vmFactory.ts';
import { FERRY_CLI, NODE, run, storeEnvFor } from '../helpers/process.ts';
import { cliEnv, MiB, scriptAvailable, setupJobs, startCliInTty, stripAnsi } from './cliHumanSupport.ts';

const noScript = scriptAvailable() ? false : 'util-linux `script` (Debian: bsdutils) is not installed';

test('runs watch on a terminal: a progress bar with stage, percent, bytes, rate and ETA; exit 0 on COMPLETED', { skip: noScript }, async () => {
  const t = await startTestFerry();
  try {
    const { connector, jobIds } = await setupJobs(t, [{ vm: 'vm0' }]);
    const jobId = jobIds[0]!;
    const cli = startCliInTty(['runs', 'watch', jobId, '--interval', '0.05'], cliEnv(t));
    // The first line includes the CLI's own start (Node, the SDK), which takes seconds on a loaded CI machine.
    await cli.waitFor(/Pending\s+\|░{30}\|\s+0% waiting for a connector to start it/, { timeoutMs: 30_000 });
    const claimed = await connector.claimWhenDue();
    const R = claimed.replicationRunId;
    await connector.progress(R, 'Uploading', '40%', { bytesDone: 40 * MiB, bytesTotal: 100 * MiB, bytesPerSecond: 10 * MiB });
    await cli.waitFor(/Uploading\s+\|█{12}░{18}\|\s+40% 40\.0 MiB of 100 MiB, 10\.0 MiB\/s, ETA 6s/);
    const image = await connector.completeWithImage(R);
    const result = await cli.exit;
    assert.equal(result.code, 0, result.stdout);
    // Drawn in place: cursor moves and line clears, the cursor hidden while the bar runs and shown again.
    assert.match(result.stdout, /\x1b\[\?25l/);
    assert.match(result.stdout, /\x1b\[\?25h/);
    assert.match(result.stdout, /\x1b\[[0-9]*K/);
    const screen = stripAnsi(result.stdout);
    assert.match(screen, new RegExp(`^Watching run ${R} \\(AUTOMATIC\\) of job ${jobId} \\(vm0\\)\\n`));
    assert.match(screen, new RegExp(`${R} Pending\\s+\\|░{30}\\|\\s+0% waiting for a connector to start it`));
    assert.match(screen, new RegExp(`${R} COMPLETED \\|█{30}\\| 100% \\n${R} COMPLETED: ${image}\\n$`));
    assert.ok(!/^sms-run-\S+ Uploading 40%/m.test(screen), 'no plain lines on a terminal');
  } finally {
    await t.close();
  }
});

test('runs watch on a terminal: FAILED leaves the bar and one `ferry:` line, exit 1; --plain prints lines', { skip: noScript }, async () => {
  const t = await startTestFerry();
  try {
    const { connector, jobIds } = await setupJobs(t, [{ vm: 'vm0' }, { vm: 'vm1' }]);
    const [failing, plain] = jobIds as [string, string];
    const cli = startCliInTty(['runs', 'watch', failing, '--interval', '0.05'], cliEnv(t));
    await cli.waitFor(`of job ${failing} (vm0)`);
    const [first, second] = [await connector.claimWhenDue(), await connector.claimWhenDue()];
    const R = [first, second].find((r) => r.replicationJobId === failing)!.replicationRunId;
    const P = [first, second].find((r) => r.replicationJobId === plain)!.replicationRunId;
    await connector.progress(R, 'Snapshotting', '70%');
    await cli.waitFor(/Snapshotting\s+\|█{21}░{9}\|\s+70%/);
    await connector.fail(R, 'snapshot of disk 0 failed');
    const result = await cli.exit;
    assert.equal(result.code, 1);
    const screen = stripAnsi(result.stdout);
    assert.match(screen, new RegExp(`${R} FAILED \\|█{21}░{9}\\|  70% \\n`));
    assert.match(screen, new RegExp(`\\nferry: run ${R} of job ${failing} \\(vm0\\) FAILED: snapshot of disk 0 failed\\n$`));

    await connector.progress(P, 'Validating', '100%');
    const lines = startCliInTty(['runs', 'watch', plain, '--plain', '--interval', '0.05'], cliEnv(t));
    await lines.waitFor(`${P} Validating 100%`);
    const image = await connector.completeWithImage(P);
    const done = await lines.exit;
    assert.equal(done.code, 0);
    assert.equal(
      done.stdout.replace(/\r/g, ''),
      [`Watching run ${P} (AUTOMATIC) of job ${plain} (vm1)`, `${P} Validating 100%`, `${P} COMPLETED: ${image}`, ''].join('\n'),
    );
  } finally {
    await t.close();
  }
});

test('images export: plain progress lines into a pipe, a bar on a terminal; same result line', { skip: noScript }, async () => {
  const ds = await makeTempDatastore('ferry-cli-export-ds-');
  const t = await startTestFerry({ datastore: ds.dir, connectorPollMs: 50 });
  try {
    await makeKvmVm(ds.dir, 'exp', { disks: [{ format: 'raw', sizeBytes: 48 * MiB }] });
    await t.sms.send(new ImportServerCatalogCommand({}));
    let serverId: string | undefined;
    for (const deadline = Date.now() + 20_000; !serverId; ) {
      const page = await t.sms.send(new GetServersCommand({}));
      serverId = page.serverCatalogStatus === 'AVAILABLE' ? page.serverList?.find((s) => s.vmServer?.vmName === 'exp')?.serverId : undefined;
      if (!serverId && Date.now() > deadline) throw new Error(`the catalog did not list the VM: ${JSON.stringify(page)}`);
      if (!serverId) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const { replicationJobId } = await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), frequency: 12, runOnce: true }));
    let ami: string | undefined;
    for (const deadline = Date.now() + 60_000; !ami; ) {
      const { replicationRunList } = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId }));
      const latest = replicationRunList?.[0];
      if (latest?.state === 'FAILED') throw new Error(`the run failed: ${latest.statusMessage}`);
      ami = latest?.state === 'COMPLETED' ? latest.amiId : undefined;
      if (!ami && Date.now() > deadline) throw new Error('the run did not complete in time');
      if (!ami) await new Promise((resolve) => setTimeout(resolve, 50));
    }

    // Into a pipe: plain lines, one per phase and 10 % step at most.
    const rawOut = join(t.dataDir, 'exp.raw');
    const exportArgs = ['images', 'export', ami, '--output', rawOut, '--data-dir', t.dataDir];
    const piped = await run(NODE, [FERRY_CLI, ...exportArgs], { env: cliEnv(undefined, storeEnvFor(exportArgs)) });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, `Exported ${ami} disk 0 as raw to ${rawOut} (0.05 GiB, 0.00 GiB of data).\n`);
    const progress = piped.stderr.trimEnd().split('\n');
    for (const line of progress) assert.match(line, /^copy \d{1,3}% \(0\.\d\d GiB of 0\.05 GiB\)$/);
    assert.ok(progress.length >= 1 && progress.length <= 11, `at most one line per tenth: ${piped.stderr}`);
    assert.equal(progress.at(-1), 'copy 100% (0.05 GiB of 0.05 GiB)');
    rmSync(rawOut);

    // On a terminal: a bar (for qcow2 the phase is qemu-img's convert, reading the store over NBD), and the same result line.
    const qcowOut = join(t.dataDir, 'exp.qcow2');
    const ttyArgs = ['images', 'export', ami, '--format', 'qcow2', '--output', qcowOut, '--data-dir', t.dataDir];
    const tty = startCliInTty(ttyArgs, cliEnv(undefined, storeEnvFor(ttyArgs)));
    const result = await tty.exit;
    assert.equal(result.code, 0, result.stdout);
    const screen = stripAnsi(result.stdout);
    assert.match(screen, /convert\s+\|█{30}\|\s*100% \| 0\.05 GiB of 0\.05 GiB \| ETA/);
    assert.match(screen, new RegExp(`Exported ${ami} disk 0 as qcow2 to ${qcowOut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(0\\.05 GiB, `));
    assert.ok(!/^(copy|convert) \d+% \(/m.test(screen), 'no plain lines on a terminal');
  } finally {
    await t.close();
    await ds.cleanup();
  }
});
