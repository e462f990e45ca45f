/**
 * What a standalone connector's block PUTs cost it in CPU (issue 11 item 4: on a shared host every CPU second the
 * connector spends per byte is taken from the node and the object store). 128 MiB of blocks, 512 KiB each, views of
 * one SharedArrayBuffer as the engine's batch slots are, sent 4 at a time to an HTTP server in another process that
 * reads and discards them: through HttpTransport.putBlocks (node:http on a keep-alive agent), next to the same PUTs
 * through fetch (what HttpTransport used until 2026-12-05: a copy of each shared view, then fetch's own copy).
 * Alternating rounds; each way's median round is its figure, as this process's CPU seconds.
 * Run: `node bench/clusterBlockPuts.ts [rounds]` (default 6).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { HttpTransport } from '../src/agent/httpTransport.ts';
import { mapConcurrently } from '../src/lib/concurrency.ts';

const BLOCK = 512 * 1024;
const BLOCKS = 256;

if (process.argv[2] === 'sink') {
  const server = createServer((incoming, answer) => {
    incoming.on('data', () => {});
    incoming.on('end', () => {
      answer.setHeader('content-type', 'application/json');
      answer.end('{}');
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as { port: number }).port));
} else {
  const rounds = Number(process.argv[2] ?? 6);
  const sink = fork(fileURLToPath(import.meta.url), ['sink']);
  const port = await new Promise<number>((resolve) => sink.once('message', (message) => resolve(message as number)));
  const url = `http://127.0.0.1:${port}`;
  const slots = new SharedArrayBuffer(16 * BLOCK);
  new Uint8Array(slots).set(randomBytes(16 * BLOCK));
  const blocks = Array.from({ length: BLOCKS }, (_, i) => ({ sha256: randomBytes(32), data: Buffer.from(slots, (i % 16) * BLOCK, BLOCK) }));
  const transport = new HttpTransport(url, 'bench-token');
  const ways: Record<string, () => Promise<void>> = {
    'HttpTransport.putBlocks (node:http)': () => transport.putBlocks('sms-r-0123456789abcdef0', blocks),
    'fetch (before)': async () => {
      await mapConcurrently(blocks, 4, async ({ sha256, data }) => {
        const answer = await fetch(`${url}/blocks/${sha256.toString('hex')}`, {
          method: 'PUT',
          headers: { authorization: 'Bearer bench-token', 'content-type': 'application/octet-stream' },
          body: Buffer.from(data),
        });
        await answer.json();
      });
    },
  };
  const cpu: Record<string, number[]> = {};
  console.log(`block PUTs: ${BLOCKS} × ${BLOCK / 1024} KiB, ${rounds} rounds; load ${loadavg().map((l) => l.toFixed(1)).join(' ')} on 2 cores`);
  for (let round = 0; round < rounds; round++) {
    const names = Object.keys(ways);
    for (const name of round % 2 === 0 ? names : names.reverse()) {
      const before = process.cpuUsage();
      await ways[name]!();
      const used = process.cpuUsage(before);
      (cpu[name] ??= []).push((used.user + used.system) / 1e6);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const baseline = median(cpu['fetch (before)']!);
  for (const [name, values] of Object.entries(cpu)) {
    console.log(`${name.padEnd(38)} ${median(values).toFixed(3)} CPU s per ${(BLOCKS * BLOCK) / 2 ** 20} MiB   ${(baseline / median(values)).toFixed(2)}× less than fetch   (rounds: ${values.map((v) => v.toFixed(2)).join(' ')})`);
  }
  console.log(`(load ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  sink.kill();
}
