/** The launcher runs programs in its helper process and reports exactly what running them directly would. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, runDirectly } from '../../src/lib/launcher.ts';

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
