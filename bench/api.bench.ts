/**
 * `npm run bench`: Ferry's SMS API under load, every figure a ratio against a baseline measured in the same run
 * (the machine is shared and noisy, so absolute numbers from different runs do not compare). See bench/README.md.
 *
 *   1. GetReplicationJobs (a full page of 50) and CreateReplicationJob: requests/s, p50, p99 over keep-alive HTTP
 *      with SigV4, against a bare node:http JSON server answering with bodies of the same size. Ferry, the bare
 *      server and the load generator are three processes; Ferry and bare rounds alternate.
 *      Beside each, the machine's idle share and the disk's fdatasync latency during those rounds (bench/apiProbes.ts),
 *      and CreateReplicationJob's rate again with 100k jobs in the account.
 *   2. GetReplicationJobs page latency (first page, and a page 90 % deep via nextToken) at 1k vs 100k jobs.
 *   3. The two fast paths (SigV4, the pre-encoded page) against the general paths they replaced (bench/apiFastPaths.ts).
 *   4. Peak RSS (VmHWM) of the Ferry process holding 100k jobs while it serves those pages.
 *
 * It reports and always exits 0; targets that are missed are marked MISS.
 */
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { cpuSeconds, freePort, killChildrenOnExit, procMemory, runBench, stopChild } from './processes.ts';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { closePage, fingerprintOf } from '../src/core/paginate.ts';
import { seedDataDir, type SeedResult } from './seed.ts';
import { connectorCall, seedServersThroughApi, sms as smsAs, summarise, type Measured, type Summary } from './apiSetup.ts';
import { smsCall, type Credentials } from './sigv4.ts';
import type { LoadSpec } from './loadgen.ts';
import { describeConditions, sampleConditions, type Conditions } from './apiProbes.ts';
import { measureJobPage, measureSigV4, type FastPathFigure } from './apiFastPaths.ts';
import { openSqliteStore } from '../src/store/openStore.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createLogger } from '../src/lib/logger.ts';
import { defaultPolicy } from '../src/domain/policy.ts';
import { FerryEvents } from '../src/core/events.ts';

const sms = (url: string, operation: string, input: unknown) => smsAs(url, CREDENTIALS, operation, input);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;
const env = process.env;
const num = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback);

/** Knobs (defaults keep a full run under ~2 minutes on 2 cores). */
const LOG_LEVEL = env.FERRY_BENCH_LOG_LEVEL ?? 'info'; // what an operator gets by default
const CONCURRENCY = num('FERRY_BENCH_CONCURRENCY', 8);
const ROUNDS = num('FERRY_BENCH_ROUNDS', 3);
const WARMUP_MS = num('FERRY_BENCH_WARMUP_MS', 1000);
const ROUND_MS = num('FERRY_BENCH_ROUND_MS', 2500);
const SMALL = num('FERRY_BENCH_SMALL_JOBS', 1_000);
const LARGE = num('FERRY_BENCH_LARGE_JOBS', 100_000);
const CREATE_SERVERS = num('FERRY_BENCH_CREATE_SERVERS', 24_000); // 3 rounds of 3.5 s at 2000 req/s, with room
const LATENCY_ROUNDS = 5;
const label = (n: number) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const S = label(SMALL);
const L = label(LARGE);
const UNDER_LOAD_ROUNDS = num('FERRY_BENCH_UNDER_LOAD_ROUNDS', 2);
/** The 100k instance serves at least this many page requests before its peak RSS is read (RSS grows with load). */
const SOAK_PAGES = num('FERRY_BENCH_SOAK_PAGES', 12_000);
const LATENCY_COUNT = 80;
const DEEP_FRACTION = 0.9;
const TARGETS = { readRatio: 0.5, createRatio: 0.3, pageRatio: 1.5, rssMb: 250 };

const CREDENTIALS: Credentials = { accessKeyId: 'AKIAFERRYBENCH000001', secretAccessKey: randomBytes(30).toString('base64') };
const REGION = 'us-east-1';

const children = new Set<ChildProcess>();
const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
const T0 = performance.now();

killChildrenOnExit(children);

// ---------------------------------------------------------------------------------------------------------------
// Processes


const ferryEnv = (maxJobs: number): NodeJS.ProcessEnv => ({
  ...env,
  FERRY_ROOT_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  FERRY_ROOT_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  FERRY_LOG_LEVEL: LOG_LEVEL,
  FERRY_MAX_JOBS_PER_ACCOUNT: String(maxJobs),
});

interface Issued {
  connectorId: string;
  token: string;
  accountId: string;
  region: string;
}

async function registerConnectorToken(dataDir: string): Promise<Issued> {
  const { stdout } = await promisify(execFile)(NODE, ['src/cli/main.ts', 'connectors', 'register', '--data-dir', dataDir, '--json'], {
    cwd: ROOT,
    env: ferryEnv(50),
  });
  return JSON.parse(stdout) as Issued;
}

interface FerryProcess {
  name: string;
  url: string;
  port: number;
  child: ChildProcess;
  stderr: () => string;
}

async function startFerryProcess(name: string, dataDir: string, maxJobs: number): Promise<FerryProcess> {
  const port = await freePort();
  // Access logs go to stdout, which is /dev/null here (stdio 'ignore').
  // FERRY_BENCH_CPU_PROF=<dir>: each Ferry process writes a V8 CPU profile there when it stops.
  const profile = env.FERRY_BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${env.FERRY_BENCH_CPU_PROF}`, `--cpu-prof-name=ferry-${name.replace(/\W+/g, '-')}.cpuprofile`]
    : [];
  // The same Node flags as `npm start`: a 16 MB young generation caps peak RSS under allocation-heavy load.
  const child = spawn(NODE, [...profile, '--max-semi-space-size=16', 'src/cli/main.ts', 'serve', '--no-embedded-connector', '--port', String(port), '--data-dir', dataDir], {
    cwd: ROOT,
    env: ferryEnv(maxJobs),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  served.delete(port); // a port a stopped process used may come round again
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Ferry (${name}) exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Ferry (${name}) did not become healthy within 30 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { name, url, port, child, stderr: () => stderr };
}

async function stop(child: ChildProcess): Promise<void> {
  await stopChild(child, 5000);
  children.delete(child);
}

const procStatus = procMemory;
const cpuMs = (pid: number): number => cpuSeconds(pid) * 1000;

/** A forked child speaking { id, … } request/response messages over IPC. */
class Rpc {
  readonly child: ChildProcess;
  #next = 0;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  constructor(script: string) {
    this.child = fork(join(ROOT, 'bench', script), [], { execPath: NODE, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(this.child);
    this.child.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
      if (message.id === undefined) return;
      const waiter = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
  }
  call<T>(payload: object): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, ...payload });
    });
  }
}

async function startEcho(): Promise<{ child: ChildProcess; port: number; setPayloads(p: Record<string, unknown>): Promise<void> }> {
  const child = fork(join(ROOT, 'bench', 'echo.ts'), [], { execPath: NODE, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  return {
    child,
    port,
    setPayloads: (payloads) =>
      new Promise<void>((resolve) => {
        child.once('message', () => resolve());
        child.send({ payloads });
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Load


let loadgen: Rpc;
/** Requests sent to each port, warm-up included. */
const served = new Map<number, number>();
async function load(spec: Omit<LoadSpec, 'host' | 'credentials'>): Promise<Measured> {
  const result = await loadgen.call<Measured>({ spec: { host: '127.0.0.1', credentials: CREDENTIALS, ...spec } });
  served.set(spec.port, (served.get(spec.port) ?? 0) + result.sent);
  return result;
}

/** A load run that also records the CPU time the server process spent on it (warm-up requests included). */
async function loadOn(pid: number, spec: Omit<LoadSpec, 'host' | 'credentials'>): Promise<Measured> {
  const before = cpuMs(pid);
  const result = await load(spec);
  return { ...result, serverCpuMs: cpuMs(pid) - before };
}

// ---------------------------------------------------------------------------------------------------------------
// Output

const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—');
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);
const verdict = (ok: boolean) => (ok ? 'ok' : 'MISS');

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  const dirs = { small: join(work, 'jobs-small'), large: join(work, 'jobs-large'), create: join(work, 'create') };
  const out: string[] = [];
  try {
    log(`data dirs under ${work}; Ferry log level ${LOG_LEVEL} (stdout → /dev/null)`);
    const [smallIssued, largeIssued, createIssued] = await Promise.all([
      registerConnectorToken(dirs.small),
      registerConnectorToken(dirs.large),
      registerConnectorToken(dirs.create),
    ]);
    const tenant = { accountId: smallIssued.accountId, region: REGION };
    const seeded: Record<'small' | 'large', SeedResult> = {
      small: await seedDataDir(dirs.small, tenant, smallIssued.connectorId, SMALL),
      large: await seedDataDir(dirs.large, { accountId: largeIssued.accountId, region: REGION }, largeIssued.connectorId, LARGE),
    };
    log(`seeded ${SMALL} jobs in ${f(seeded.small.ms / 1000, 1)} s and ${LARGE} jobs in ${f(seeded.large.ms / 1000, 1)} s (servers, jobs, one run each)`);

    loadgen = new Rpc('loadgen.ts');
    const echo = await startEcho();
    const small = await startFerryProcess(`${S} jobs`, dirs.small, 1_000_000);
    const smallAtStart = procStatus(small.child.pid!);
    const create = await startFerryProcess('create', dirs.create, 1_000_000);
    const serverIds = await seedServersThroughApi(create.url, CREDENTIALS, createIssued.token, CREATE_SERVERS, log);
    log(`${serverIds.length} servers imported through the connector API`);

    // ---- 1a. GetReplicationJobs throughput, page of 50 ----
    const page = await smsCall(small.url, CREDENTIALS, 'GetReplicationJobs', {});
    const pageJobs = (page.json.replicationJobList as unknown[]).length;
    if (page.status !== 200 || pageJobs !== 50) throw new Error(`GetReplicationJobs returned ${page.status} with ${pageJobs} jobs`);
    await echo.setPayloads({ GetReplicationJobs: page.json, CreateReplicationJob: { replicationJobId: 'sms-job-0123abcd' } });
    const timed = { concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: ROUND_MS, keepLatencies: true };
    const readBody = [JSON.stringify({})];
    const readRuns = { echo: [] as Measured[], ferry: [] as Measured[] };
    const conditions: Record<string, Conditions> = {};
    let sampling = sampleConditions(work);
    for (let round = 0; round < ROUNDS; round++) {
      for (const which of round % 2 ? (['ferry', 'echo'] as const) : (['echo', 'ferry'] as const)) {
        const [port, pid] = which === 'echo' ? [echo.port, echo.child.pid!] : [small.port, small.child.pid!];
        readRuns[which].push(await loadOn(pid, { ...timed, port, operation: 'GetReplicationJobs', bodies: readBody, unique: false }));
      }
      log(`GetReplicationJobs round ${round + 1}/${ROUNDS}: bare ${f(readRuns.echo.at(-1)!.rps, 0)} req/s, Ferry ${f(readRuns.ferry.at(-1)!.rps, 0)} req/s`);
    }

    conditions.reads = await sampling();

    // ---- 1b. CreateReplicationJob throughput: each request a fresh server ----
    const seedTime = Math.floor(Date.now() / 1000) + 3600; // an hour ahead: no run falls due during the bench
    const createBodies = serverIds.map((serverId, i) =>
      JSON.stringify({
        serverId,
        seedReplicationTime: seedTime,
        frequency: 12,
        licenseType: 'AWS',
        numberOfRecentAmisToKeep: 3,
        description: `bench job ${i}`,
      }),
    );
    const createRuns = { echo: [] as Measured[], ferry: [] as Measured[] };
    let used = 0;
    const createRounds: string[] = [];
    sampling = sampleConditions(work);
    for (let round = 0; round < ROUNDS; round++) {
      for (const which of round % 2 ? (['ferry', 'echo'] as const) : (['echo', 'ferry'] as const)) {
        if (which === 'echo') {
          createRuns.echo.push(
            await loadOn(echo.child.pid!, { ...timed, port: echo.port, operation: 'CreateReplicationJob', bodies: createBodies.slice(0, 1000), unique: false }),
          );
          continue;
        }
        await connectorCall(create.url, createIssued.token, '/heartbeat', { status: 'HEALTHY' }); // keep it HEALTHY
        const bodies = createBodies.slice(used); // each round may use every server left (rates swing 3× here)
        const result = await loadOn(create.child.pid!, { ...timed, port: create.port, operation: 'CreateReplicationJob', bodies, unique: true });
        createRounds.push(`${f(result.rps, 0)} req/s from ${used} jobs`);
        used += result.sent;
        createRuns.ferry.push(result);
      }
      log(`CreateReplicationJob round ${round + 1}/${ROUNDS}: bare ${f(createRuns.echo.at(-1)!.rps, 0)} req/s, Ferry ${f(createRuns.ferry.at(-1)!.rps, 0)} req/s`);
    }
    conditions.creates = await sampling();
    await stop(create.child);
    await stop(echo.child);

    // ---- 2. Page latency at 1k vs 100k jobs, 3. RSS at 100k ----
    const large = await startFerryProcess(`${L} jobs`, dirs.large, 1_000_000);
    const largeAtStart = procStatus(large.child.pid!);
    const deepToken = (result: SeedResult, accountId: string) => {
      const index = Math.floor(result.jobIds.length * DEEP_FRACTION);
      const fingerprint = fingerprintOf('GetReplicationJobs', { accountId, region: REGION }, null);
      // The token the service hands out after the job at `index - 1` (keyset token: the last seq returned).
      const token = closePage([{ seq: result.seqs[index - 1]! }, { seq: result.seqs[index]! }], { after: undefined, limit: 1, fingerprint }).nextToken!;
      return { token, expectedFirst: result.jobIds[index]!, index };
    };
    const deep = { small: deepToken(seeded.small, smallIssued.accountId), large: deepToken(seeded.large, largeIssued.accountId) };
    for (const [name, ferry] of [['small', small], ['large', large]] as const) {
      const check = await sms(ferry.url, 'GetReplicationJobs', { nextToken: deep[name].token });
      const jobs = check.replicationJobList as { replicationJobId: string }[];
      if (jobs.length !== 50 || jobs[0]!.replicationJobId !== deep[name].expectedFirst || !check.nextToken) {
        throw new Error(`deep page on ${ferry.name} did not start at job #${deep[name].index}`);
      }
    }
    const cases = [
      { key: 'small-first', port: small.port, body: JSON.stringify({}) },
      { key: 'large-first', port: large.port, body: JSON.stringify({}) },
      { key: 'small-deep', port: small.port, body: JSON.stringify({ nextToken: deep.small.token }) },
      { key: 'large-deep', port: large.port, body: JSON.stringify({ nextToken: deep.large.token }) },
    ];
    // Pages under load (first and deep pages alternating) at both sizes: where RSS peaks, and the warm-up that
    // puts the 100k instance (started last) on an equal JIT footing with the 1k one before the latency rounds.
    const mixed = (c1: (typeof cases)[number], c2: (typeof cases)[number]) =>
      load({ ...timed, port: c1.port, operation: 'GetReplicationJobs', bodies: [c1.body, c2.body], unique: false });
    const loaded = { small: [] as Measured[], large: [] as Measured[] };
    for (let round = 0; round < UNDER_LOAD_ROUNDS; round++) {
      for (const which of round % 2 ? (['large', 'small'] as const) : (['small', 'large'] as const)) {
        loaded[which].push(which === 'small' ? await mixed(cases[0]!, cases[2]!) : await mixed(cases[1]!, cases[3]!));
      }
    }
    log('pages under load done');
    const soak = Math.max(0, SOAK_PAGES - LATENCY_ROUNDS * (LATENCY_COUNT + 10) - (served.get(large.port) ?? 0));
    if (soak > 0) {
      await load({ port: large.port, operation: 'GetReplicationJobs', bodies: [cases[1]!.body, cases[3]!.body], unique: false, concurrency: CONCURRENCY, count: soak });
      log(`${L} instance soaked with ${soak} more page requests`);
    }
    const latencyRuns = new Map<string, Measured[]>(cases.map((c) => [c.key, []]));
    for (let round = 0; round < LATENCY_ROUNDS; round++) {
      const order = [...cases.slice(round % cases.length), ...cases.slice(0, round % cases.length)];
      for (const c of order) {
        latencyRuns.get(c.key)!.push(
          await load({ port: c.port, operation: 'GetReplicationJobs', bodies: [c.body], unique: false, concurrency: 1, warmupCount: 10, count: LATENCY_COUNT, keepLatencies: true }),
        );
      }
    }
    log('page latency rounds done');
    const largeMem = procStatus(large.child.pid!);
    const smallMem = procStatus(small.child.pid!);
    const servedPages = { small: served.get(small.port) ?? 0, large: served.get(large.port) ?? 0 };

    // ---- 2b. CreateReplicationJob latency at 1k vs 100k jobs in the account (servers whose job COMPLETED) ----
    const createLatency = { small: [] as Measured[], large: [] as Measured[] };
    const freeServers = {
      small: seeded.small.serverIds.filter((_, i) => i % 5 === 4),
      large: seeded.large.serverIds.filter((_, i) => i % 5 === 4),
    };
    const createBody = (serverId: string) =>
      JSON.stringify({ serverId, seedReplicationTime: seedTime, frequency: 24, licenseType: 'BYOL', description: 'bench: second job' });
    for (let round = 0; round < 2; round++) {
      for (const which of round % 2 ? (['large', 'small'] as const) : (['small', 'large'] as const)) {
        const [ferry, issued] = which === 'small' ? [small, smallIssued] : [large, largeIssued];
        await connectorCall(ferry.url, issued.token, '/heartbeat', { status: 'HEALTHY' });
        const bodies = freeServers[which].splice(0, 40).map(createBody);
        createLatency[which].push(
          await load({ port: ferry.port, operation: 'CreateReplicationJob', bodies, unique: true, concurrency: 1, warmupCount: 5, count: 30, keepLatencies: true }),
        );
      }
    }
    log('create latency rounds done');

    // ---- 2c. CreateReplicationJob throughput with 100k jobs in the account (8 connections, free servers) ----
    await connectorCall(large.url, largeIssued.token, '/heartbeat', { status: 'HEALTHY' });
    sampling = sampleConditions(work);
    const createsAtLarge = [] as Measured[];
    const largeBodies = freeServers.large.map(createBody);
    for (let round = 0, usedLarge = 0; round < ROUNDS; round++) {
      const result = await loadOn(large.child.pid!, { ...timed, port: large.port, operation: 'CreateReplicationJob', bodies: largeBodies.slice(usedLarge), unique: true });
      usedLarge += result.sent;
      createsAtLarge.push(result);
    }
    conditions.createsAtLarge = await sampling();
    log(`CreateReplicationJob at ${L} jobs: ${createsAtLarge.map((r) => f(r.rps, 0)).join(', ')} req/s`);
    await stop(large.child);
    await stop(small.child);
    await stop(loadgen.child);

    // ---- 4. The fast paths against the general paths they replaced (bench/apiFastPaths.ts) ----
    const pageStore = await openSqliteStore(dirs.small, Date.now());
    const fastPaths: FastPathFigure[] = [];
    try {
      const core = { db: pageStore.db, readRows: pageStore.readRows, readArrays: pageStore.readArrays, capabilities: pageStore.capabilities, clock: systemClock, policy: defaultPolicy, log: createLogger('warn'), events: new FerryEvents() };
      fastPaths.push(await measureSigV4(), ...(await measureJobPage(core, tenant)));
    } finally {
      await pageStore.close();
    }

    // ---- Report ----
    const reads = { echo: summarise(readRuns.echo), ferry: summarise(readRuns.ferry) };
    const creates = { echo: summarise(createRuns.echo), ferry: summarise(createRuns.ferry) };
    const lat = Object.fromEntries([...latencyRuns].map(([k, v]) => [k, summarise(v)])) as Record<string, Summary>;
    const under = { small: summarise(loaded.small), large: summarise(loaded.large) };
    const readRatio = reads.ferry.rps / reads.echo.rps;
    const firstRatio = lat['large-first']!.p50 / lat['small-first']!.p50;
    const deepRatio = lat['large-deep']!.p50 / lat['small-deep']!.p50;

    out.push(
      '',
      `Ferry API bench — Node ${process.versions.node}, ${cpus().length} CPUs, ${new Date().toISOString()}`,
      `Load: ${CONCURRENCY} keep-alive connections from a separate node:http process, every request SigV4-signed (pre-signed).`,
      `Ferry logs at level '${LOG_LEVEL}' (one access-log line per request) to stdout → /dev/null; data dirs on ${tmpdir()}.`,
      `Baseline "bare": a node:http JSON server in its own process that parses the request and answers with a JSON body`,
      `of the same size as Ferry's. Ferry and bare rounds alternate: ${ROUNDS} rounds × ${ROUND_MS / 1000} s after ${WARMUP_MS / 1000} s warm-up each.`,
      '',
      '1. Throughput and latency (ratio = Ferry / bare, same run)',
      `${pad('operation', 32)}${pad('server', 8)}${lpad('req/s', 9)}${lpad('p50 ms', 9)}${lpad('p99 ms', 9)}${lpad('CPU ms/req', 12)}${lpad('resp B', 9)}   target`,
    );
    const rows = (name: string, s: { echo: Summary; ferry: Summary }, target: string) => {
      out.push(
        `${pad(name, 32)}${pad('bare', 8)}${lpad(f(s.echo.rps, 0), 9)}${lpad(f(s.echo.p50), 9)}${lpad(f(s.echo.p99), 9)}${lpad(f(s.echo.cpuPerRequest, 3), 12)}${lpad(String(s.echo.responseBytes), 9)}`,
        `${pad('', 32)}${pad('Ferry', 8)}${lpad(f(s.ferry.rps, 0), 9)}${lpad(f(s.ferry.p50), 9)}${lpad(f(s.ferry.p99), 9)}${lpad(f(s.ferry.cpuPerRequest, 3), 12)}${lpad(String(s.ferry.responseBytes), 9)}`,
        `${pad('', 32)}${pad('ratio', 8)}${lpad(x(s.ferry.rps / s.echo.rps), 9)}${lpad(x(s.ferry.p50 / s.echo.p50), 9)}${lpad(x(s.ferry.p99 / s.echo.p99), 9)}${lpad(x(s.ferry.cpuPerRequest / s.echo.cpuPerRequest), 12)}${lpad('', 9)}   ${target}`,
      );
      if (s.ferry.errors) out.push(`${pad('', 32)}!! ${s.ferry.errors} Ferry errors, first: ${s.ferry.firstError}`);
      if (s.ferry.exhausted) out.push(`${pad('', 32)}!! ran out of servers: the rate is over the time until then`);
    };
    const createRatio = creates.ferry.rps / creates.echo.rps;
    const large100k = summarise(createsAtLarge);
    rows(`GetReplicationJobs (50 of ${S})`, reads, `req/s ≥ ${TARGETS.readRatio}×  ${verdict(readRatio >= TARGETS.readRatio)}`);
    out.push(`${pad('', 32)}machine during these rounds: ${describeConditions(conditions.reads!)}`);
    rows('CreateReplicationJob', creates, `req/s ≥ ${TARGETS.createRatio}×  ${verdict(createRatio >= TARGETS.createRatio)}`);
    out.push(
      `${pad('', 32)}Ferry rounds: ${createRounds.join(', ')}`,
      `${pad('', 32)}with ${L} jobs in the account: ${f(large100k.rps, 0)} req/s (${x(large100k.rps / creates.ferry.rps)} of the rate from 0 jobs; rounds ${createsAtLarge.map((r) => f(r.rps, 0)).join(', ')}), CPU ${f(large100k.cpuPerRequest, 3)} ms/req`,
      `${pad('', 32)}machine during these rounds: ${describeConditions(conditions.creates!)}; at ${L}: ${describeConditions(conditions.createsAtLarge!)}`,
      `${pad('', 32)}(each create is acknowledged after a WAL sync shared with the creates ready at the same time: with ${CONCURRENCY} in flight,`,
      `${pad('', 32)} no server acknowledges more than ${CONCURRENCY} per sync latency, ≈ ${f(CONCURRENCY / (conditions.creates!.syncP50 / 1000), 0)} req/s at this disk's p50)`,
    );
    out.push(
      '',
      `2. Latency with ${S} vs ${L} jobs in the account (sequential requests; pages: ${LATENCY_ROUNDS} interleaved rounds × ${LATENCY_COUNT})`,
      `${pad('GetReplicationJobs', 26)}${lpad(`${S} p50`, 9)}${lpad(`${S} p99`, 9)}${lpad(`${L} p50`, 10)}${lpad(`${L} p99`, 10)}${lpad('ratio p50', 11)}${lpad('ratio p99', 11)}   target p50 ratio ≤ ${TARGETS.pageRatio}`,
    );
    const latRow = (name: string, a: Summary, b: Summary, ratio: number) =>
      out.push(
        `${pad(name, 26)}${lpad(f(a.p50), 9)}${lpad(f(a.p99), 9)}${lpad(f(b.p50), 10)}${lpad(f(b.p99), 10)}${lpad(x(ratio), 11)}${lpad(x(b.p99 / a.p99), 11)}   ${verdict(ratio <= TARGETS.pageRatio)}`,
      );
    latRow('first page', lat['small-first']!, lat['large-first']!, firstRatio);
    latRow(`page at ${DEEP_FRACTION * 100}% (nextToken)`, lat['small-deep']!, lat['large-deep']!, deepRatio);
    out.push(
      `${pad(`under load (${CONCURRENCY} conns, req/s)`, 26)}${lpad(f(under.small.rps, 0), 9)}${lpad('', 9)}${lpad(f(under.large.rps, 0), 10)}${lpad('', 10)}${lpad(x(under.large.rps / under.small.rps), 11)}   (first and deep pages alternating; ${UNDER_LOAD_ROUNDS} rounds)`,
    );
    const cl = { small: summarise(createLatency.small), large: summarise(createLatency.large) };
    out.push(
      `${pad('CreateReplicationJob', 26)}${lpad(f(cl.small.p50), 9)}${lpad(f(cl.small.p99), 9)}${lpad(f(cl.large.p50), 10)}${lpad(f(cl.large.p99), 10)}${lpad(x(cl.large.p50 / cl.small.p50), 11)}${lpad(x(cl.large.p99 / cl.small.p99), 11)}   (no target; sequential, 2 rounds × 30)`,
    );
    for (const [key, s] of Object.entries(cl)) if (s.errors) out.push(`!! create ${key}: ${s.errors} errors, first: ${s.firstError}`);
    for (const key of Object.keys(lat)) if (lat[key]!.errors) out.push(`!! ${key}: ${lat[key]!.errors} errors, first: ${lat[key]!.firstError}`);
    out.push(
      '',
      '3. Fast paths against the general path each replaced (µs per request, in the bench process; keep if ≥ 1.5× faster)',
      ...fastPaths.map((p) => `${pad(p.name, 34)}fast ${lpad(f(p.fastUs, 1), 8)}   general ${lpad(f(p.generalUs, 1), 8)}   ${lpad(x(p.generalUs / p.fastUs), 7)}   ${p.generalUs >= 1.5 * p.fastUs ? 'pays' : 'DOES NOT PAY'}`),
    );
    out.push(
      '',
      '4. Memory of the Ferry process (MB)',
      `${pad('', 26)}${lpad('peak (VmHWM)', 13)}${lpad('RSS now', 9)}${lpad('peak at start', 15)}${lpad('pages served', 14)}   target peak < ${TARGETS.rssMb} MB at ${L}`,
      `${pad(`${L} jobs`, 26)}${lpad(f(largeMem.hwmMb, 0), 13)}${lpad(f(largeMem.rssMb, 0), 9)}${lpad(f(largeAtStart.hwmMb, 0), 15)}${lpad(String(servedPages.large), 14)}   ${verdict(largeMem.hwmMb < TARGETS.rssMb)}`,
      `${pad(`${S} jobs (reference)`, 26)}${lpad(f(smallMem.hwmMb, 0), 13)}${lpad(f(smallMem.rssMb, 0), 9)}${lpad(f(smallAtStart.hwmMb, 0), 15)}${lpad(String(servedPages.small), 14)}`,
      `(Peak RSS follows the load a process has served, not the jobs it holds: V8 grows its young generation`,
      ` under a high allocation rate. The ${L} instance serves at least ${SOAK_PAGES} pages before it is read.)`,
      '',
      `Total bench time ${f((performance.now() - T0) / 1000, 0)} s. Figures from other runs or machines compare only as ratios.`,
    );
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    for (const child of [...children]) await stop(child);
    rmSync(work, { recursive: true, force: true });
  }
}

await runBench(main);
