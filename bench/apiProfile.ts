/**
 * Where a Ferry process's CPU went, from a V8 `.cpuprofile` (`FERRY_BENCH_CPU_PROF=DIR npm run bench` writes one per
 * Ferry): `node bench/apiProfile.ts FILE [--last SECONDS] [--top N] [--per N]`.
 *
 * Prints the busy samples' self time grouped by where the code lives (Fastify, pino, SigV4, Kysely, the store, SQLite's
 * native calls, Node's own internals, GC), then the functions with the most self time, then the inclusive time of a
 * few functions that mark the stages of a request. `--last` keeps only the profile's last seconds (the bench's timed
 * create rounds come last in the create process's life); `--per N` divides by N requests to print µs per request.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { last: { type: 'string' }, top: { type: 'string', default: '25' }, per: { type: 'string' } },
});
if (positionals.length !== 1) throw new Error('usage: node bench/apiProfile.ts FILE.cpuprofile [--last SECONDS] [--top N] [--per N]');
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile;

/** The area a frame belongs to, by its script's path (first match wins). */
const AREAS: [string, RegExp][] = [
  ['fastify + its plugins', /node_modules\/(fastify|@fastify|find-my-way|light-my-request|avvio|fast-json-stringify|secure-json-parse|process-warning|toad-cache|rfdc|fast-querystring)/],
  ['pino (access log)', /node_modules\/(pino|sonic-boom|thread-stream|fast-redact|quick-format|on-exit-leak|safe-stable)/],
  ['kysely', /node_modules\/kysely/],
  ['other dependencies', /node_modules\//],
  ['SigV4 (src/protocol/sigv4)', /src\/protocol\/sigv4\//],
  ['protocol + server (src/protocol, src/server)', /src\/(protocol|server)\//],
  ['operations (src/operations)', /src\/operations\//],
  ['store (src/store)', /src\/store\//],
  ['core + domain (src/core, src/domain)', /src\/(core|domain)\//],
  ['observability, lib (src/observability, src/lib)', /src\/(observability|lib)\//],
  ['other Ferry code', /src\//],
  ['node internals (http, net, streams, timers)', /^node:/],
];

function areaOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return '(program: V8/native outside JS)';
  if (functionName === '(idle)') return '(idle)';
  if (url === '') return `native: ${functionName || '(anonymous)'}`;
  for (const [area, pattern] of AREAS) if (pattern.test(url)) return area;
  return 'other';
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Sample times: timeDeltas[i] is the gap before sample i; a sample's weight is the gap after it.
const times: number[] = [];
let t = profile.startTime;
for (const d of profile.timeDeltas) times.push((t += d));
const from = values.last ? profile.endTime - Number(values.last) * 1e6 : -Infinity;

const self = new Map<number, number>();
let busy = 0;
for (let i = 0; i < profile.samples.length; i++) {
  if (times[i]! < from) continue;
  const weight = (times[i + 1] ?? profile.endTime) - times[i]!;
  const node = byId.get(profile.samples[i]!)!;
  if (node.callFrame.functionName === '(idle)') continue;
  self.set(node.id, (self.get(node.id) ?? 0) + weight);
  busy += weight;
}

const per = values.per ? Number(values.per) : undefined;
const show = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms${per ? `  ${(us / per).toFixed(1).padStart(7)} µs/req` : ''}`;

const areas = new Map<string, number>();
for (const [id, us] of self) {
  const area = areaOf(byId.get(id)!);
  areas.set(area, (areas.get(area) ?? 0) + us);
}
console.log(`busy CPU in the window: ${(busy / 1000).toFixed(0)} ms${per ? ` over ${per} requests` : ''}\n\nself time by area:`);
for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1])) console.log(`  ${show(us)}  ${area}`);

const functions = new Map<string, number>();
for (const [id, us] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${lineNumber + 1}`;
  functions.set(key, (functions.get(key) ?? 0) + us);
}
console.log(`\ntop ${values.top} functions by self time:`);
for (const [key, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${show(us)}  ${key}`);

// Inclusive time of the stages' marker functions: a sample counts once per marker found on its stack.
const MARKERS = ['inTransaction', 'createJobIn', 'createJob', 'verifySigV4', 'runWithDurability', 'executeQuery', 'commitTransaction', 'write'];
const inclusive = new Map<string, number>();
for (const [id, us] of self) {
  const seen = new Set<string>();
  for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
    const name = byId.get(n)!.callFrame.functionName;
    if (MARKERS.includes(name) && !seen.has(name)) {
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
}
console.log('\ninclusive time of marker functions (a stage and everything it calls synchronously):');
for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1])) console.log(`  ${show(us)}  ${name}`);
