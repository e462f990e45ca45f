/**
 * A whole Ferry in a child process, for tests that SIGKILL it in the middle of a launch or a terminate: startFerry
 * on a data dir (embedded connector on a datastore, instances on libvirt), driven by JSON lines on stdin, answering
 * with JSON lines on stdout (logs go to stderr).
 *
 *   argv:   DATA_DIR DATASTORE INSTANCES_DIR
 *   env:    FERRY_STORE, FERRY_BLOCKS, FERRY_S3_ENDPOINT when the test runs on PostgreSQL / S3 (testServerPlace)
 *   stdout: {"ready":{"url","accountId","accessKeyId","secretAccessKey"}}   once listening
 *           {"event":{…instance.state…}}                                   every instance state change
 *           {"launched":"i-…"} | {"terminating":"i-…"} | {"error":"…"}
 *   stdin:  {"launch":{"serverId","amiId","userData"(base64),"bootTimeoutMs"}} | {"terminate":"i-…"}
 */
import { createInterface } from 'node:readline';
import { startFerry } from '../../src/main.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { LAUNCH_URI } from './launch.ts';
import { LONE_TEST_NODE } from './process.ts';

const [dataDir, datastore, instancesDir] = process.argv.slice(2) as [string, string, string];
const say = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);

const ferry = await startFerry({
  dataDir,
  datastore,
  // The parent passes the test's store and blocks (FERRY_TEST_STORE / FERRY_TEST_BLOCKS) the way `ferry serve` takes them.
  ...(process.env.FERRY_STORE ? { store: process.env.FERRY_STORE } : {}),
  ...(process.env.FERRY_BLOCKS ? { blocks: process.env.FERRY_BLOCKS, s3Endpoint: process.env.FERRY_S3_ENDPOINT } : {}),
  connectorPollMs: 200,
  log: createLogger(process.env.FERRY_TEST_LOG_LEVEL ?? 'warn', process.stderr),
  env: {},
  // Alone on a PostgreSQL store, it is its cluster's launch node (as it would launch on SQLite).
  ...(process.env.FERRY_STORE ? { nodeId: LONE_TEST_NODE } : {}),
  launch: { uri: LAUNCH_URI, instancesDir, ...(process.env.FERRY_STORE ? { node: LONE_TEST_NODE } : {}) },
});
const tenant = { accountId: ferry.root.accountId, region: 'us-east-1' };
ferry.core.events.subscribe((event) => {
  if (event.type === 'instance.state') say({ event });
});
say({ ready: { url: ferry.url, accountId: ferry.root.accountId, accessKeyId: ferry.root.accessKeyId, secretAccessKey: ferry.root.secretAccessKey } });

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    const command = JSON.parse(line) as { launch?: { serverId: string; amiId: string; userData?: string; bootTimeoutMs?: number }; terminate?: string };
    if (command.launch) {
      const instance = await ferry.instances.launch({
        tenant,
        appId: 'app-crash',
        serverId: command.launch.serverId,
        amiId: command.launch.amiId,
        vcpus: 1,
        memoryMiB: 256,
        deviceModel: 'auto',
        ...(command.launch.userData ? { userData: Buffer.from(command.launch.userData, 'base64') } : {}),
        ...(command.launch.bootTimeoutMs ? { bootTimeoutMs: command.launch.bootTimeoutMs } : {}),
      });
      say({ launched: instance.instanceId });
    } else if (command.terminate) {
      await ferry.instances.terminate(tenant, command.terminate);
      say({ terminating: command.terminate });
    }
  } catch (error) {
    say({ error: (error as Error).message });
  }
}
await ferry.close();
