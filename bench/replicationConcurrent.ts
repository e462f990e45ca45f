/**
 * The replication bench's concurrent part: one connector replicating several VMs at once. The same Ferry first
 * replicates one VM alone, then CONCURRENT_VMS others at once (each its own disk of the same size and layout, with
 * different bytes, so nothing deduplicates); the aggregate throughput of the group is compared with the single run,
 * and each run's time with the others' (no run may starve).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateReplicationJobCommand, GetReplicationRunsCommand, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { domainXml } from '../src/agent/sample/vmBuilders.ts';
import { diskLayout, writeDisk, MiB } from './replicationDisk.ts';
import { fsyncFile, idleDuring, importServers, log, num, POLL_MS, sleep, startFerry, stop, waitQuiet, warm, type FerryProcess } from './replicationRig.ts';

export const CONCURRENT_VMS = num('FERRY_BENCH_CONCURRENT_VMS', 4);
const CONCURRENT_GIB = num('FERRY_BENCH_CONCURRENT_GIB', 1);

export interface ConcurrentResult {
  vms: number;
  /** Data bytes of each VM's disk: [0] is the one replicated alone. */
  dataBytes: number[];
  /** One VM replicated alone: seconds (API time) and the machine's idle share meanwhile. */
  alone: { time: number; idle: number };
  /** Each VM's API time when all ran at once, and the group's wall time. */
  together: { times: number[]; wall: number; idle: number };
}

/** Starts a full run of every job at once; the API time of each (StartOnDemandReplicationRun → COMPLETED). */
async function replicateAll(ferry: FerryProcess, jobIds: string[]): Promise<number[]> {
  const start = performance.now();
  const runIds = await Promise.all(jobIds.map(async (replicationJobId) => (await ferry.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId }))).replicationRunId!));
  const times: (number | undefined)[] = jobIds.map(() => undefined);
  while (times.some((t) => t === undefined)) {
    await Promise.all(
      jobIds.map(async (replicationJobId, i) => {
        if (times[i] !== undefined) return;
        const runs = await ferry.sms.send(new GetReplicationRunsCommand({ replicationJobId, maxResults: 50 }));
        const found = runs.replicationRunList?.find((r) => r.replicationRunId === runIds[i]);
        if (found?.state === 'COMPLETED') times[i] = (performance.now() - start) / 1000;
        else if (found?.state === 'FAILED' || found?.state === 'DELETED') throw new Error(`run ${runIds[i]} ${found.state}: ${found.statusMessage}`);
      }),
    );
    await sleep(POLL_MS);
  }
  return times as number[];
}

export async function concurrentRuns(work: string, seed: number): Promise<ConcurrentResult> {
  const sizeBytes = Math.round(CONCURRENT_GIB * 1024) * MiB;
  const datastore = join(work, 'ds-concurrent');
  const vms = Array.from({ length: CONCURRENT_VMS + 1 }, (_, i) => {
    const name = `bench-c${i}`;
    const folder = join(datastore, name);
    mkdirSync(folder, { recursive: true });
    const file = `${name}.img`;
    writeFileSync(join(folder, `${name}.xml`), domainXml({ name, uuid: null, disks: [{ file, format: 'raw', dev: 'vda' }] }));
    const layout = diskLayout(sizeBytes, 0.5, seed * 100 + i);
    const disk = join(folder, file);
    writeDisk(disk, layout, seed * 100 + i);
    fsyncFile(disk);
    return { name, disk, dataBytes: layout.dataBytes };
  });
  const dataDir = join(work, 'ferry-concurrent');
  const ferry = await startFerry('concurrent', datastore, dataDir, process.env.FERRY_BENCH_CPU_PROF);
  try {
    const jobIds: string[] = [];
    for (const serverId of await importServers(ferry, vms.map((vm) => vm.name))) {
      const job = await ferry.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + 3600_000), frequency: 24, licenseType: 'BYOL' }));
      jobIds.push(job.replicationJobId!);
    }
    await waitQuiet();
    warm(vms[0]!.disk);
    let idle = idleDuring();
    const [aloneTime] = await replicateAll(ferry, [jobIds[0]!]);
    const alone = { time: aloneTime!, idle: idle() };
    log(`concurrent: one VM alone ${alone.time.toFixed(2)} s`);
    await waitQuiet();
    for (const vm of vms.slice(1)) warm(vm.disk);
    idle = idleDuring();
    const start = performance.now();
    const times = await replicateAll(ferry, jobIds.slice(1));
    const together = { times, wall: (performance.now() - start) / 1000, idle: idle() };
    log(`concurrent: ${CONCURRENT_VMS} VMs at once ${times.map((t) => t.toFixed(2)).join(', ')} s`);
    return { vms: CONCURRENT_VMS, dataBytes: vms.map((vm) => vm.dataBytes), alone, together };
  } finally {
    ferry.sms.destroy();
    await stop(ferry.child);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(datastore, { recursive: true, force: true });
  }
}
