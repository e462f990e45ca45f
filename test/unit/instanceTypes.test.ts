/** EC2 instance types → vCPUs and memory (domain/instanceTypes.ts), against EC2's published sizes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INSTANCE_FAMILIES, INSTANCE_TYPES, instanceSize, unknownInstanceTypeMessage } from '../../src/domain/instanceTypes.ts';

test('published sizes of each family (a sample per family)', () => {
  const expected: Record<string, [number, number]> = {
    't2.nano': [1, 512],
    't2.micro': [1, 1024],
    't2.2xlarge': [8, 32768],
    't3.nano': [2, 512],
    't3a.medium': [2, 4096],
    'm5.large': [2, 8192],
    'm5a.24xlarge': [96, 393216],
    'm6i.32xlarge': [128, 524288],
    'm6a.48xlarge': [192, 786432],
    'c5.large': [2, 4096],
    'c5.9xlarge': [36, 73728],
    'c5a.8xlarge': [32, 65536],
    'c6i.32xlarge': [128, 262144],
    'c6a.48xlarge': [192, 393216],
    'r5.large': [2, 16384],
    'r5a.24xlarge': [96, 786432],
    'r6i.32xlarge': [128, 1048576],
    'r6a.48xlarge': [192, 1572864],
  };
  for (const [type, [vcpus, memoryMiB]] of Object.entries(expected)) assert.deepEqual(instanceSize(type), { vcpus, memoryMiB }, type);
});

test('memory per vCPU follows the family: m 4 GiB, c 2 GiB, r 8 GiB (every size)', () => {
  for (const [type, size] of INSTANCE_TYPES) {
    const family = type[0];
    const perVcpu = size.memoryMiB / size.vcpus / 1024;
    if (family === 'm') assert.equal(perVcpu, 4, type);
    if (family === 'c') assert.equal(perVcpu, 2, type);
    if (family === 'r') assert.equal(perVcpu, 8, type);
  }
  assert.deepEqual(INSTANCE_FAMILIES, ['t2', 't3', 't3a', 'm5', 'm5a', 'm6i', 'm6a', 'c5', 'c5a', 'c6i', 'c6a', 'r5', 'r5a', 'r6i', 'r6a']);
});

test('unknown types are refused with a message that helps', () => {
  assert.equal(instanceSize('t3.enormous'), undefined);
  assert.equal(instanceSize('m5.metal'), undefined);
  assert.equal(instanceSize('T3.MICRO'), undefined);
  assert.match(unknownInstanceTypeMessage('t3.enormous'), /t3 comes in nano, micro, small, medium, large, xlarge, 2xlarge/);
  assert.match(unknownInstanceTypeMessage('x9.large'), /families t2, t3, .*r6a/);
});
