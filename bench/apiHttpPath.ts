/**
 * A same-run A/B of the SMS request path over HTTP: `node bench/apiHttpPath.ts [--roots A,B] [--rounds 3]
 * [--count 1500] [--prof DIR]`.
 *
 * Starts one Ferry per checkout in `--roots` (default: this one), each with a fresh data dir and enough catalog
 * servers for its creates, plus the bare node:http server (echo.ts) and the load generator (loadgen.ts). Then, in
 * rounds whose order rotates, sends each the same number of signed requests over 8 keep-alive connections:
 * GetConnectors (one connector: one tiny select, so nearly all of its cost is the HTTP, SigV4, routing and logging
 * path every operation pays) and CreateReplicationJob (a fresh server each). Prints each server's CPU ms per
 * request (from /proc, warm-up included) and its ratio to the bare server's, with the load average and idle share
 * of each round: two checkouts measured in the same minutes compare even on a busy machine.
 */
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { cpuSeconds, freePort, killChildrenOnExit, runBench, stopChild } from './processes.ts';
import { connectorCall, seedServersThroughApi, sms } from './apiSetup.ts';
import type { Credentials } from './sigv4.ts';
import type { LoadResult, LoadSpec } from './loadgen.ts';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    roots: { type: 'string', default: HERE },
    rounds: { type: 'string', default: '3' },
    count: { type: 'string', default: '1500' },
    prof: { type: 'string' },
    ops: { type: 'string', default: 'get,create' },
    /** Extra Node flags for the Ferry processes (e.g. --perf-basic-prof for `perf record`). */
    'node-flags': { type: 'string', default: '' },
  },
});
const ROOTS = values.roots.split(',').map((root) => resolve(root));
const ROUNDS = Number(values.rounds);
const COUNT = Number(values.count);
const OPS = new Set(values.ops.split(','));
const WARMUP = 200;
const CONCURRENCY = 8;
const nodeOf = (root: string) => (existsSync(join(root, 'node_modules/.bin/node')) ? join(root, 'node_modules/.bin/node') : process.execPath);
const NODE = nodeOf(HERE);
const CREDENTIALS: Credentials = { accessKeyId: 'AKIAFERRYPROBE000001', secretAccessKey: randomBytes(30).toString('base64') };
const children = new Set<ChildProcess>();
const dirs: string[] = [];
killChildrenOnExit(children, () => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const log = (message: string) => process.stderr.write(`[probe] ${message}\n`);

const ferryEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  FERRY_ROOT_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  FERRY_ROOT_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  FERRY_LOG_LEVEL: 'info',
  FERRY_MAX_JOBS_PER_ACCOUNT: '1000000',
});

interface Target {
  name: string;
  port: number;
  pid: number;
  createBodies: string[];
  /** Keeps the connector healthy (its heartbeat times out while rounds run). */
  heartbeat?: () => Promise<unknown>;
}

async function startFerry(root: string, index: number): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-probe-'));
  dirs.push(dataDir);
  const { stdout } = await promisify(execFile)(nodeOf(root), ['src/cli/main.ts', 'connectors', 'register', '--data-dir', dataDir, '--json'], { cwd: root, env: ferryEnv() });
  const { token } = JSON.parse(stdout) as { token: string };
  const port = await freePort();
  const name = `${index}:${root.split('/').at(-1)}`;
  const profile = values.prof ? ['--cpu-prof', `--cpu-prof-dir=${values.prof}`, `--cpu-prof-name=probe-${name.replace(/\W+/g, '-')}.cpuprofile`] : [];
  const args = [...values['node-flags'].split(' ').filter(Boolean), ...profile, '--max-semi-space-size=16', 'src/cli/main.ts', 'serve', '--no-embedded-connector', '--port', String(port), '--data-dir', dataDir];
  const child = spawn(nodeOf(root), args, { cwd: root, env: ferryEnv(), stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`Ferry ${name} exited with ${child.exitCode}`);
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    if (tries > 600) throw new Error(`Ferry ${name} did not become healthy`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const servers = OPS.has('create') ? await seedServersThroughApi(url, CREDENTIALS, token, ROUNDS * (COUNT + WARMUP) + 100, log) : [];
  const seed = Math.floor(Date.now() / 1000) + 3600;
  const createBodies = servers.map((serverId) => JSON.stringify({ serverId, seedReplicationTime: seed, frequency: 12, licenseType: 'BYOL', description: 'probe' }));
  // GetConnectors is answered from the same single row every time: no warm-up of a cache could differ between roots.
  await sms(url, CREDENTIALS, 'GetConnectors', {});
  const heartbeat = () => connectorCall(url, token, '/heartbeat', { status: 'HEALTHY' });
  return { name, port, pid: child.pid!, createBodies, heartbeat };
}

function idleTicks(): { idle: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) };
}

const loadgen = fork(join(HERE, 'bench', 'loadgen.ts'), [], { execPath: NODE, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
children.add(loadgen);
let nextId = 0;
function load(spec: Omit<LoadSpec, 'host' | 'credentials' | 'concurrency'>): Promise<LoadResult> {
  const id = nextId++;
  return new Promise((resolveLoad, reject) => {
    const onMessage = (message: { id: number; result?: LoadResult; error?: string }) => {
      if (message.id !== id) return;
      loadgen.off('message', onMessage);
      if (message.error) reject(new Error(message.error));
      else resolveLoad(message.result!);
    };
    loadgen.on('message', onMessage);
    loadgen.send({ id, spec: { host: '127.0.0.1', credentials: CREDENTIALS, concurrency: CONCURRENCY, ...spec } });
  });
}

/** CPU ms per request of `target` for `operation`, over the warm-up and the counted requests. */
async function measure(target: Target, operation: string, bodies: string[], unique: boolean): Promise<number> {
  const before = cpuSeconds(target.pid);
  const result = await load({ port: target.port, operation, bodies, unique, warmupCount: WARMUP, count: COUNT });
  if (result.errors > 0) throw new Error(`${target.name} ${operation}: ${result.errors} errors, first ${result.firstError}`);
  return ((cpuSeconds(target.pid) - before) * 1000) / result.sent;
}

await runBench(async () => {
  const echoProfile = values.prof ? ['--cpu-prof', `--cpu-prof-dir=${values.prof}`, '--cpu-prof-name=probe-bare.cpuprofile'] : [];
  const echoChild = fork(join(HERE, 'bench', 'echo.ts'), [], { execPath: NODE, execArgv: echoProfile, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(echoChild);
  const echoPort = await new Promise<number>((r) => echoChild.once('message', (m: { port: number }) => r(m.port)));
  const ferries: Target[] = [];
  for (const [index, root] of ROOTS.entries()) ferries.push(await startFerry(root, index));
  const first = ferries[0]!;
  const connectors = await sms(`http://127.0.0.1:${first.port}`, CREDENTIALS, 'GetConnectors', {});
  await new Promise<void>((r) => {
    echoChild.once('message', () => r());
    echoChild.send({ payloads: { GetConnectors: connectors, CreateReplicationJob: { replicationJobId: 'sms-job-0123abcd' } } });
  });
  const bare: Target = { name: 'bare', port: echoPort, pid: echoChild.pid!, createBodies: first.createBodies.slice(0, 500) };
  const targets = [bare, ...ferries];
  const figures = new Map<string, { get: number[]; create: number[] }>(targets.map((t) => [t.name, { get: [], create: [] }]));
  const used = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    const idle0 = idleTicks();
    for (const target of order) {
      if (OPS.has('get')) figures.get(target.name)!.get.push(await measure(target, 'GetConnectors', ['{}'], false));
      if (!OPS.has('create')) continue;
      await target.heartbeat?.();
      const from = target === bare ? 0 : (used.get(target.name) ?? 0);
      const bodies = target.createBodies.slice(from, from + WARMUP + COUNT);
      if (target !== bare) used.set(target.name, from + WARMUP + COUNT);
      figures.get(target.name)!.create.push(await measure(target, 'CreateReplicationJob', bodies, target !== bare));
    }
    const idle1 = idleTicks();
    const idle = ((idle1.idle - idle0.idle) / (idle1.total - idle0.total)) * 100;
    const line = targets.map((t) => `${t.name} get ${figures.get(t.name)!.get.at(-1)?.toFixed(3)} create ${figures.get(t.name)!.create.at(-1)?.toFixed(3)}`).join(' | ');
    log(`round ${round + 1}: load ${loadavg()[0]!.toFixed(1)}, idle ${idle.toFixed(0)} %: ${line}`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const bareGet = median(figures.get('bare')!.get);
  const bareCreate = median(figures.get('bare')!.create);
  console.log(`CPU ms per request (median of ${ROUNDS} rounds; ratio = bare's CPU / this server's CPU)`);
  for (const t of targets) {
    const f = figures.get(t.name)!;
    console.log(
      `  ${t.name.padEnd(24)} GetConnectors ${median(f.get).toFixed(3)} (${(bareGet / median(f.get)).toFixed(2)}x)   CreateReplicationJob ${median(f.create).toFixed(3)} (${(bareCreate / median(f.create)).toFixed(2)}x)`,
    );
  }
  if (ferries.length > 1) {
    // The same-run A/B: each checkout against the first, round by round (each round's servers met the same load).
    const base = figures.get(first.name)!;
    for (const t of ferries.slice(1)) {
      const f = figures.get(t.name)!;
      const ratios = (mine: number[], theirs: number[]) => mine.map((v, i) => v / theirs[i]!);
      const show = (xs: number[]) => (xs.length ? `${xs.map((x) => x.toFixed(2)).join(' ')} (median ${median(xs).toFixed(2)})` : '-');
      console.log(`  ${t.name} CPU per request / ${first.name}'s, per round: GetConnectors ${show(ratios(f.get, base.get))}; CreateReplicationJob ${show(ratios(f.create, base.create))}`);
    }
  }
  for (const child of children) await stopChild(child, 5000);
});
