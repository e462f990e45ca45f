/**
 * What libvirt's guest-CPU check costs a domain's start on this host, with no libvirt in the path. libvirt 9.0, once
 * QEMU is up and before the guest runs (qemuProcessLaunch → "Verifying and updating provided guest CPU"), lists the
 * vCPU's QOM properties and reads its CPU features one `qom-get` at a time (about 300 on x86_64); a bare
 * `qemu-system-x86_64` as the by-hand baseline runs pays nothing of the kind. This bench starts the bare command
 * paused (`-S`) with a QMP socket, does what libvirt does — `qom-list` of the vCPU, then one `qom-get` per boolean
 * property — and prints the wall time and the CPU time QEMU spent on it (/proc), beside QEMU's own start-up.
 *
 *   node bench/launchCpuCheck.ts [--rounds 3]
 *
 * No root or libvirt needed (qemu-system-x86 only).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const ROUNDS = Math.max(1, Number(values.rounds));
const CPU_PATH = '/machine/unattached/device[0]';

async function cpuMsOf(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 10 ms ticks
}

/** A QMP client: one command at a time, as libvirt's monitor sends them. */
function qmp(socket: Socket): (command: string, args?: object) => Promise<unknown> {
  const replies: ((line: Record<string, unknown>) => void)[] = [];
  createInterface({ input: socket }).on('line', (line) => {
    const message = JSON.parse(line) as Record<string, unknown>;
    if ('return' in message || 'error' in message) replies.shift()?.(message);
  });
  return (command, args) =>
    new Promise((resolve, reject) => {
      replies.push((m) => ('error' in m ? reject(new Error(JSON.stringify(m.error))) : resolve(m.return)));
      socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
    });
}

async function round(dir: string): Promise<{ gets: number; wallMs: number; cpuMs: number; startCpuMs: number }> {
  const socketPath = join(dir, 'qmp.sock');
  await rm(socketPath, { force: true });
  // The bare command of bench:launch's baseline (launchSupport.ts bootByHand), paused, with no disk: the check does
  // not depend on the devices.
  const qemu = spawn('qemu-system-x86_64', ['-machine', 'q35,accel=tcg', '-m', '512', '-display', 'none', '-no-reboot', '-nic', 'none', '-S', '-qmp', `unix:${socketPath},server=on,wait=off`], { stdio: 'ignore' });
  try {
    for (let i = 0; !(await stat(socketPath).catch(() => undefined)); i++) {
      if (i > 500 || qemu.exitCode !== null) throw new Error('qemu did not open its QMP socket');
      await sleep(10);
    }
    const socket = createConnection(socketPath);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const send = qmp(socket);
    await send('qmp_capabilities');
    const startCpuMs = await cpuMsOf(qemu.pid!);
    const started = performance.now();
    const properties = (await send('qom-list', { path: CPU_PATH })) as { name: string; type: string }[];
    let gets = 0;
    for (const p of properties) {
      if (p.type !== 'bool') continue;
      await send('qom-get', { path: CPU_PATH, property: p.name });
      gets++;
    }
    const wallMs = performance.now() - started;
    const cpuMs = (await cpuMsOf(qemu.pid!)) - startCpuMs;
    socket.destroy();
    return { gets, wallMs, cpuMs, startCpuMs };
  } finally {
    qemu.kill('SIGKILL');
  }
}

const dir = await mkdtemp(join(tmpdir(), 'ferry-cpu-check-'));
try {
  for (let i = 0; i < ROUNDS; i++) {
    const r = await round(dir);
    console.log(
      `round ${i + 1}: ${r.gets} qom-get of the vCPU's features: ${r.wallMs.toFixed(0)} ms wall, ${r.cpuMs} ms of QEMU CPU (${(r.cpuMs / r.gets).toFixed(2)} ms each); QEMU's own start-up before them: ${r.startCpuMs} ms of CPU`,
    );
  }
  console.log(`(load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')})`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
