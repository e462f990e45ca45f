/** The benches' shared life (bench/processes.ts): always exit 0 with the failure reported, and no child left behind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PROCESSES = fileURLToPath(new URL('../../bench/processes.ts', import.meta.url));

/** Whether the process is gone (or a zombie: killed, waiting to be reaped by whoever adopted it), within 5 s. */
async function gone(pid: number): Promise<boolean> {
  for (let waited = 0; waited < 5000; waited += 50) {
    let state: string;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? '';
    } catch {
      return true;
    }
    if (state === 'Z') return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function runScript(source: string) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', source], { encoding: 'utf8', timeout: 20_000 });
}

test('runBench reports a failing bench on stdout and still exits 0; a passing one exits 0 after its output', () => {
  const failed = runScript(`import { runBench } from ${JSON.stringify(PROCESSES)};
await runBench(async () => { throw new Error('no disk'); });
console.log('not reached');`);
  assert.equal(failed.status, 0);
  assert.match(failed.stdout, /^bench failed: Error: no disk\n\s+at /);
  assert.doesNotMatch(failed.stdout, /not reached/);

  const passed = runScript(`import { runBench } from ${JSON.stringify(PROCESSES)};
await runBench(async () => { process.stdout.write('figures\\n'); });`);
  assert.equal(passed.status, 0);
  assert.equal(passed.stdout, 'figures\n');
});

test('killChildrenOnExit: SIGTERM exits 130, kills the children and runs the cleanup', async () => {
  const result = runScript(`import { spawn } from 'node:child_process';
import { killChildrenOnExit } from ${JSON.stringify(PROCESSES)};
const child = spawn('sleep', ['30'], { stdio: 'ignore' });
killChildrenOnExit(new Set([child]), () => process.stdout.write('cleaned\\n'));
process.stdout.write(child.pid + '\\n');
setTimeout(() => process.kill(process.pid, 'SIGTERM'), 100);
setTimeout(() => {}, 10_000);`);
  assert.equal(result.status, 130);
  const [pid, cleaned] = result.stdout.trim().split('\n');
  assert.equal(cleaned, 'cleaned');
  assert.ok(await gone(Number(pid)), 'the child was killed');
});
