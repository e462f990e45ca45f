/**
 * The human CLI over the API, not on a terminal: `ferry status` (text and --json, every page) and `ferry runs
 * watch` (plain lines, exit codes), and their one-line errors — Ferry down, unknown job, refused credentials, no
 * credentials, usage errors. The CLI runs as a child process against a real in-process Ferry; a scripted
 * connector drives the runs, and the test waits for each expected line before its next step, so the output is
 * exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateReplicationJobCommand, GetReplicationRunsCommand, GetServersCommand } from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { FERRY_CLI, NODE, run } from '../helpers/process.ts';
import { cliEnv, MiB, setupJobs, startCli } from './cliHumanSupport.ts';

const ferry = (args: readonly string[], env: NodeJS.ProcessEnv) => run(NODE, [FERRY_CLI, ...args], { env });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A table row as its cells (columns are separated by two or more spaces). */
const cells = (line: string | undefined) => (line ?? '').trim().split(/\s{2,}/);

test('runs watch, not a TTY: a line per stage or 10 % step, the AMI at the end, exit 0', async () => {
  const t = await startTestFerry();
  try {
    const { connector, jobIds } = await setupJobs(t, [{ vm: 'vm0' }]);
    const jobId = jobIds[0]!;
    const cli = startCli(['runs', 'watch', jobId, '--interval', '0.05'], cliEnv(t));
    await cli.waitFor('PENDING: waiting for a connector to start it\n');
    const claimed = await connector.claimWhenDue();
    const R = claimed.replicationRunId;
    await cli.waitFor(`${R} Starting\n`);
    await connector.progress(R, 'Validating', '0%');
    await cli.waitFor(`${R} Validating 0%\n`);
    await connector.progress(R, 'Validating', '40%');
    await cli.waitFor(`${R} Validating 40%\n`);
    await connector.progress(R, 'Uploading', '5%', { bytesDone: 5 * MiB, bytesTotal: 100 * MiB, bytesPerSecond: 10 * MiB });
    await cli.waitFor(`${R} Uploading 5%`);
    // Same tenth: polled several times, printed never.
    await connector.progress(R, 'Uploading', '8%', { bytesDone: 8 * MiB, bytesTotal: 100 * MiB, bytesPerSecond: 10 * MiB });
    await sleep(300);
    await connector.progress(R, 'Uploading', '25%', { bytesDone: 25 * MiB, bytesTotal: 100 * MiB, bytesPerSecond: 10 * MiB });
    await cli.waitFor(`${R} Uploading 25%`);
    await connector.progress(R, 'Converting', '100%');
    await cli.waitFor(`${R} Converting 100%\n`);
    const image = await connector.completeWithImage(R);
    const result = await cli.exit;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        `Watching run ${R} (AUTOMATIC) of job ${jobId} (vm0)`,
        `${R} PENDING: waiting for a connector to start it`,
        `${R} Starting`,
        `${R} Validating 0%`,
        `${R} Validating 40%`,
        `${R} Uploading 5% (5.00 MiB of 100 MiB, 10.0 MiB/s, ETA 10s)`,
        `${R} Uploading 25% (25.0 MiB of 100 MiB, 10.0 MiB/s, ETA 8s)`,
        `${R} Converting 100%`,
        `${R} COMPLETED: ${image}`,
        '',
      ].join('\n'),
    );
    assert.equal(result.stderr, '');
  } finally {
    await t.close();
  }
});

test('runs watch: a FAILED run prints its statusMessage on stderr and exits 1; an idle job has nothing to watch', async () => {
  const t = await startTestFerry();
  try {
    const later = new Date(Date.now() + 2 * 3600_000);
    const { connector, jobIds } = await setupJobs(t, [{ vm: 'vm0' }, { vm: 'vm1', seed: later }]);
    const [failing, idle] = jobIds as [string, string];

    const cli = startCli(['runs', 'watch', failing, '--interval', '0.05'], cliEnv(t));
    const claimed = await connector.claimWhenDue();
    const R = claimed.replicationRunId;
    await connector.progress(R, 'Uploading', '50%', { bytesDone: 50 * MiB, bytesTotal: 100 * MiB, bytesPerSecond: 25 * MiB });
    await cli.waitFor(`${R} Uploading 50% (50.0 MiB of 100 MiB, 25.0 MiB/s, ETA 2s)\n`);
    await connector.fail(R, 'disk 0 (vm0.vmdk) could not be read in stage Uploading: I/O error');
    const result = await cli.exit;
    assert.equal(result.code, 1);
    const { replicationRunList } = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: failing }));
    const failed = replicationRunList!.find((r) => r.replicationRunId === R)!;
    assert.equal(failed.state, 'FAILED');
    assert.match(failed.statusMessage!, /I\/O error/);
    assert.equal(result.stderr, `ferry: run ${R} of job ${failing} (vm0) FAILED: ${failed.statusMessage}\n`);
    assert.ok(!result.stdout.includes('COMPLETED'));

    // A job whose first run is two hours away: nothing active or due.
    const quiet = await ferry(['runs', 'watch', idle], cliEnv(t));
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.match(
      quiet.stdout,
      new RegExp(
        `^Nothing to watch: job ${idle} \\(vm1\\) is PENDING and has no active or due run; its next run is due at ` +
          `\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\(in (1h59m|2h00m)\\): --next waits for it\\.\\n$`,
      ),
    );
    assert.equal(quiet.stderr, '');

    // --next waits for that run; Ctrl-C ends the watch (130).
    const waiting = startCli(['runs', 'watch', idle, '--next', '--interval', '0.05'], cliEnv(t));
    await waiting.waitFor(/PENDING: due at \S+Z \(in (1h59m|2h00m)\)\n/);
    waiting.kill('SIGINT');
    const stopped = await waiting.exit;
    assert.equal(stopped.code, 130);
    assert.match(stopped.stdout, new RegExp(`^Watching run sms-run-[0-9a-f]{8} \\(AUTOMATIC\\) of job ${idle} \\(vm1\\)\\n`));
  } finally {
    await t.close();
  }
});

test('runs watch and status: one-line errors and exit codes (down, unknown job, wrong secret, no credentials, usage)', async () => {
  const t = await startTestFerry();
  const emptyDir = mkdtempSync(join(tmpdir(), 'ferry-cli-nocreds-'));
  try {
    // Port 1: nothing listens there. A port freed by freePort() may be taken by a server of a test running beside
    // this one before the CLI connects, and then the CLI talks to that server instead of being refused (seen in CI).
    const down = 'http://127.0.0.1:1';
    const noKeys = cliEnv(undefined, { FERRY_ENDPOINT: t.ferry.url });
    const watchUnknown = ['runs', 'watch', 'sms-job-00000000'];
    // Independent invocations, run side by side (each is a Node start-up).
    const [
      downStatus, downWatch, unknown, wrongStatus, wrongWatch, strangerStatus, strangerWatch,
      fromDataDir, none, missing, badInterval, badEndpoint, help,
    ] = await Promise.all([
      ferry(['status', '--endpoint', down], cliEnv(t)),
      ferry([...watchUnknown, '--endpoint', down], cliEnv(t)),
      ferry(watchUnknown, cliEnv(t)),
      ferry(['status'], cliEnv(t, { AWS_SECRET_ACCESS_KEY: 'not-the-secret' })),
      ferry(watchUnknown, cliEnv(t, { AWS_SECRET_ACCESS_KEY: 'not-the-secret' })),
      ferry(['status'], cliEnv(t, { AWS_ACCESS_KEY_ID: 'AKIAFERRYNOSUCHKEY01' })),
      ferry(watchUnknown, cliEnv(t, { AWS_ACCESS_KEY_ID: 'AKIAFERRYNOSUCHKEY01' })),
      // No keys in the environment: the data dir's root credentials, or a clear line saying there are none.
      ferry(['status', '--data-dir', t.dataDir], noKeys),
      ferry(['status', '--data-dir', emptyDir], noKeys),
      // Usage errors exit 2, as commander reports them.
      ferry(['runs', 'watch'], cliEnv(t)),
      ferry([...watchUnknown, '--interval', 'soon'], cliEnv(t)),
      ferry(['status', '--endpoint', 'not a url'], cliEnv(t)),
      ferry(['runs', 'watch', '--help'], cliEnv(t)),
    ]);

    for (const result of [downStatus, downWatch]) {
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `ferry: cannot reach Ferry at ${down}: connection refused (is \`ferry serve\` running?)\n`);
      assert.equal(result.stdout, '');
    }

    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'ferry: InvalidParameterException: Replication job sms-job-00000000 does not exist.\n');
    assert.equal(unknown.stdout, '');

    for (const wrong of [wrongStatus, wrongWatch]) {
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /^ferry: InvalidSignatureException: [^\n]+ \(credentials from AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY\)\n$/);
      assert.equal(wrong.stdout, '');
    }
    for (const stranger of [strangerStatus, strangerWatch]) {
      assert.equal(stranger.code, 1);
      assert.match(stranger.stderr, /^ferry: UnrecognizedClientException: [^\n]+\n$/);
    }

    assert.equal(fromDataDir.code, 0, fromDataDir.stderr);
    assert.match(fromDataDir.stdout, /^Ferry at /);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      `ferry: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (e.g. eval "$(ferry credentials)"), or point --data-dir at the service's data directory (${join(emptyDir, 'root-credentials.json')} does not exist).\n`,
    );

    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: missing required argument 'job-id'\n/);
    assert.equal(badInterval.code, 2);
    assert.match(badInterval.stderr, /^error: option '--interval <seconds>' argument 'soon' is invalid/);
    assert.equal(badEndpoint.code, 2);
    assert.equal(badEndpoint.stderr, 'ferry: --endpoint must be a URL such as http://127.0.0.1:7676; got "not a url".\n');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Ends and exit status:/);
  } finally {
    await t.close();
    rmSync(emptyDir, { recursive: true, force: true });
  }
});

test('status: connectors, catalog, jobs by state and active runs with live progress, as text and --json', async () => {
  const t = await startTestFerry();
  try {
    const later = new Date(Date.now() + 2 * 3600_000);
    const { connector, jobIds } = await setupJobs(t, [{ vm: 'vm0' }, { vm: 'vm1', seed: later }], 3);
    const [busy, pending] = jobIds as [string, string];
    const claimed = await connector.claimWhenDue();
    const R = claimed.replicationRunId;
    await connector.progress(R, 'Uploading', '25%', { bytesDone: 25 * MiB, bytesTotal: 100 * MiB, bytesPerSecond: 10 * MiB });

    const result = await ferry(['status'], cliEnv(t));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const lines = result.stdout.split('\n');
    const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
    assert.match(lines[0]!, new RegExp(`^Ferry at ${t.ferry.url}, region us-east-1 \\(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\)$`));

    assert.equal(lines[at('Connectors:')], 'Connectors: 1');
    assert.deepEqual(cells(lines[at('Connectors:') + 1]), ['CONNECTOR', 'STATUS', 'VM MANAGER', 'VERSION', 'IP', 'LAST HEARTBEAT', 'ASSOCIATED']);
    const [id, status, manager, version, ip, heartbeat, associated] = cells(lines[at('Connectors:') + 2]);
    assert.deepEqual([id, status, manager, version, ip], [connector.connectorId, 'HEALTHY', 'VSPHERE vcenter.test', '1.0.0', '10.0.0.5']);
    assert.match(heartbeat!, /^(-|just now|\d+s ago)$/);
    assert.match(associated!, /^(just now|\d+s ago)$/);

    assert.match(lines[at('Server catalog:')]!, /^Server catalog: AVAILABLE, 3 servers, last modified (just now|\d+s ago)$/);

    assert.equal(lines[at('Replication jobs:')], 'Replication jobs: 2 (ACTIVE 1, PENDING 1)');
    assert.deepEqual(cells(lines[at('Replication jobs:') + 1]), ['JOB', 'SERVER', 'STATE', 'NEXT RUN', 'LATEST AMI', 'LAST RUN']);
    const jobRows = new Map([2, 3].map((i) => [cells(lines[at('Replication jobs:') + i])[0], cells(lines[at('Replication jobs:') + i])]));
    const busyRow = jobRows.get(busy)!;
    assert.deepEqual([busyRow[1], busyRow[2], busyRow[4], busyRow[5]], ['vm0', 'ACTIVE', '-', 'ACTIVE']);
    assert.match(busyRow[3]!, /^in (11h59m|12h00m)$/);
    const pendingRow = jobRows.get(pending)!;
    assert.deepEqual([pendingRow[1], pendingRow[2], pendingRow[4], pendingRow[5]], ['vm1', 'PENDING', '-', '-']);
    assert.match(pendingRow[3]!, /^in (1h59m|2h00m)$/);

    assert.equal(lines[at('Active runs:')], 'Active runs: 1');
    assert.deepEqual(cells(lines[at('Active runs:') + 1]), ['RUN', 'JOB', 'SERVER', 'STAGE', 'PROGRESS', 'BYTES', 'RATE', 'ETA']);
    assert.deepEqual(cells(lines[at('Active runs:') + 2]), [R, busy, 'vm0', 'Uploading', '25%', '25.0 MiB of 100 MiB', '10.0 MiB/s', '8s']);

    const json = await ferry(['status', '--json'], cliEnv(t));
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.endpoint, t.ferry.url);
    assert.equal(report.region, 'us-east-1');
    assert.equal(report.connectors.length, 1);
    assert.equal(report.connectors[0].connectorId, connector.connectorId);
    assert.equal(report.catalog.status, 'AVAILABLE');
    assert.equal(report.catalog.servers, 3);
    assert.deepEqual(report.jobs.byState, { ACTIVE: 1, PENDING: 1 });
    assert.equal(report.jobs.total, 2);
    const next = new Date(report.jobs.list.find((j: { replicationJobId: string }) => j.replicationJobId === pending).nextReplicationRunStartTime);
    assert.ok(Math.abs(next.getTime() - later.getTime()) < 1000, `next run ${next.toISOString()} is the seed ${later.toISOString()}`);
    assert.deepEqual(
      report.activeRuns.map((r: Record<string, unknown>) => [r.replicationRunId, r.stage, r.stageProgress, r.bytesDone, r.bytesTotal, r.bytesPerSecond, r.etaSeconds]),
      [[R, 'Uploading', '25%', 25 * MiB, 100 * MiB, 10 * MiB, 8]],
    );

    // After the run: no active runs, the job shows its AMI and the last run's state.
    const image = await connector.completeWithImage(R);
    const after = await ferry(['status'], cliEnv(t));
    assert.match(after.stdout, /\nActive runs: none\n$/);
    const row = after.stdout.split('\n').find((l) => l.startsWith(busy));
    assert.deepEqual(cells(row).slice(4), [image, 'COMPLETED']);
  } finally {
    await t.close();
  }
});

test('status reads every page: more than 100 servers and jobs', async () => {
  const t = await startTestFerry({ policy: { maxNonTerminalJobsPerAccount: 500 } });
  try {
    const later = new Date(Date.now() + 3600_000);
    await setupJobs(t, [], 130);
    const servers: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await t.sms.send(new GetServersCommand({ nextToken }));
      servers.push(...page.serverList!.map((s) => s.serverId!));
      nextToken = page.nextToken;
    } while (nextToken);
    assert.equal(servers.length, 130);
    for (const serverId of servers.slice(0, 105)) {
      await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: later, frequency: 12 }));
    }
    const json = await ferry(['status', '--json'], cliEnv(t));
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.catalog.servers, 130);
    assert.equal(report.jobs.total, 105);
    assert.equal(report.jobs.list.length, 105);
    assert.equal(new Set(report.jobs.list.map((j: { replicationJobId: string }) => j.replicationJobId)).size, 105);
    const text = await ferry(['status'], cliEnv(t));
    assert.match(text.stdout, /\nServer catalog: AVAILABLE, 130 servers, /);
    assert.match(text.stdout, /\nReplication jobs: 105 \(PENDING 105\)\n/);
  } finally {
    await t.close();
  }
});
