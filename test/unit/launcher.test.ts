/** The launcher runs programs in its helper process and reports exactly what running them directly would. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, prewarm, runDirectly } from '../../src/lib/launcher.ts';

test('output, exit codes, a missing program and the timeout, through the helper and directly alike', async () => {
  const cases: [string, string[], { timeoutMs?: number }][] = [
    ['sh', ['-c', 'printf "out"; printf "err" >&2; exit 3'], {}],
    ['sh', ['-c', 'echo "a b"'], {}],
    ['ferry-no-such-program', [], {}],
    ['sleep', ['5'], { timeoutMs: 200 }],
  ];
  for (const [file, args, options] of cases) {
    const viaHelper = await launch(file, args, options);
    const direct = await runDirectly({ file, args, timeoutMs: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 });
    assert.deepEqual(viaHelper, direct, `${file} ${args.join(' ')}`);
  }
  assert.deepEqual(await launch('sh', ['-c', 'printf "out"; printf "err" >&2; exit 3']), { code: 3, stdout: 'out', stderr: 'err' });
  assert.equal((await launch('ferry-no-such-program', [])).startError?.code, 'ENOENT');
  const slow = await launch('sleep', ['5'], { timeoutMs: 200 });
  assert.equal(slow.killed, true);
  assert.equal(slow.code, null);
  // Many at once: each reply finds its own caller.
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => launch('sh', ['-c', `echo ${i}`])));
  assert.deepEqual(many.map((r) => r.stdout.trim()), Array.from({ length: 20 }, (_, i) => String(i)));
});

test('a warm launch runs in a program the helper started before it was asked for, and reports what running it directly would', async () => {
  // Prints when it started, then runs what it is given on stdin.
  const timed = ['-c', 'date +%s%N; IFS= read -r line; eval "$line"'];
  const startedNs = (stdout: string) => BigInt(stdout.split('\n')[0]!);
  prewarm('sh', timed);
  await sleep(300);
  for (let round = 0; round < 2; round++) {
    const asked = BigInt(Date.now()) * 1_000_000n;
    const result = await launch('sh', timed, { stdin: 'printf out; printf err >&2; exit 3\n', warm: true });
    assert.ok(startedNs(result.stdout) < asked, `round ${round}: started ${(asked - startedNs(result.stdout)) / 1_000_000n} ms before it was asked for`);
    assert.equal(result.stdout.split('\n')[1], 'out');
    assert.equal(result.stderr, 'err');
    assert.equal(result.code, 3);
    await sleep(300); // the pool is topped up once a program has finished
  }

  const cases: [string, string[], { stdin: string; timeoutMs?: number }][] = [
    ['sh', ['-s'], { stdin: 'printf out; printf err >&2; exit 3\n' }],
    ['sh', ['-s'], { stdin: 'echo one\necho two\n' }],
    ['ferry-no-such-program', [], { stdin: '' }],
    ['sleep', ['5'], { stdin: '', timeoutMs: 200 }],
  ];
  for (const [file, args, options] of cases) {
    prewarm(file, args);
    await sleep(100);
    const warm = await launch(file, args, { ...options, warm: true });
    const direct = await runDirectly({ file, args, timeoutMs: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024, stdin: options.stdin });
    assert.deepEqual({ ...warm, startError: warm.startError?.code }, { ...direct, startError: direct.startError?.code }, `${file} ${args.join(' ')}`);
  }
  assert.equal((await launch('sh', ['-s'], { stdin: 'echo one\necho two\n', warm: true })).stdout, 'one\ntwo\n');
  const slow = await launch('sleep', ['5'], { stdin: '', timeoutMs: 200, warm: true });
  assert.equal(slow.killed, true);
});
