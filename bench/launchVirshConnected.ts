/**
 * What a virsh started and connected ahead of its command saves `virsh define` and `virsh start` (src/launch/virsh.ts
 * #runConnected, src/lib/warmPrograms.ts): a minimal domain (no disk, 32 MiB) defined, started, destroyed and
 * undefined, once with each call as its own virsh process (as before) and once through virsh shells the launcher's
 * helper started a second earlier, alternating which goes first, so both see the same load. Prints each call's
 * median with every round's figure, and the load average and idle share.
 *
 *   node bench/launchVirshConnected.ts [--rounds 8]
 *
 * Needs root and a running libvirt (qemu:///system).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Virsh } from '../src/launch/virsh.ts';
import { sampleIdle } from './launchSupport.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '8' } } });
const ROUNDS = Math.max(1, Number(values.rounds));

const virsh = new Virsh('qemu:///system');
const name = `ferry-bench-virsh-${process.pid}`;
const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-virsh-'));
const file = join(dir, 'domain.xml');
await writeFile(file, `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os><devices><controller type='usb' model='none'/><memballoon model='none'/></devices></domain>`);
const times: Record<string, number[]> = { 'define, own process': [], 'define, connected shell': [], 'start, own process': [], 'start, connected shell': [] };
const idle = await sampleIdle();
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const connected of round % 2 ? [true, false] : [false, true]) {
      if (connected) virsh.prewarm();
      await sleep(1000);
      const how = connected ? 'connected shell' : 'own process';
      let at = performance.now();
      await (connected ? virsh.define(file) : virsh.run(['define', file]));
      times[`define, ${how}`]!.push(performance.now() - at);
      at = performance.now();
      await (connected ? virsh.start(name) : virsh.run(['start', name]));
      times[`start, ${how}`]!.push(performance.now() - at);
      await virsh.destroy(name);
      await virsh.undefine(name);
    }
  }
} finally {
  await virsh.destroy(name).catch(() => undefined);
  await virsh.undefine(name).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
console.log(`virsh define / start of a minimal domain, ${ROUNDS} rounds (ms):`);
for (const [what, xs] of Object.entries(times)) console.log(`  ${what.padEnd(24)} median ${String(Math.round(median(xs))).padStart(5)}   (${xs.map((x) => Math.round(x)).join(' ')})`);
console.log(`(idle ${Math.round((await idle()) * 100)} %; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
process.exit(0);
