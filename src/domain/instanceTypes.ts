/**
 * EC2 instance types a launch configuration may name, with the vCPUs and memory EC2 publishes for them (the
 * "Instance types" pages of the EC2 documentation: general purpose t2, t3, t3a, m5, m5a, m6i, m6a; compute optimized
 * c5, c5a, c6i, c6a; memory optimized r5, r5a, r6i, r6a — the x86 families; metal sizes are left out, since an
 * instance here is a virtual machine). A launched server gets that many vCPUs and that much memory; a type not in
 * this table is refused with InvalidParameterException.
 */

export interface InstanceSize {
  vcpus: number;
  memoryMiB: number;
}

const GiB = 1024;

/** size → [vCPUs, memory GiB] per family shape. */
type SizeTable = Record<string, readonly [number, number]>;

const BURSTABLE_T2: SizeTable = {
  nano: [1, 0.5],
  micro: [1, 1],
  small: [1, 2],
  medium: [2, 4],
  large: [2, 8],
  xlarge: [4, 16],
  '2xlarge': [8, 32],
};

const BURSTABLE_T3: SizeTable = {
  nano: [2, 0.5],
  micro: [2, 1],
  small: [2, 2],
  medium: [2, 4],
  large: [2, 8],
  xlarge: [4, 16],
  '2xlarge': [8, 32],
};

/** m5/m5a: 4 GiB per vCPU. */
const GENERAL_M5: SizeTable = {
  large: [2, 8],
  xlarge: [4, 16],
  '2xlarge': [8, 32],
  '4xlarge': [16, 64],
  '8xlarge': [32, 128],
  '12xlarge': [48, 192],
  '16xlarge': [64, 256],
  '24xlarge': [96, 384],
};
/** m6i/m6a add 32xlarge (and m6a 48xlarge). */
const GENERAL_M6I: SizeTable = { ...GENERAL_M5, '32xlarge': [128, 512] };
const GENERAL_M6A: SizeTable = { ...GENERAL_M6I, '48xlarge': [192, 768] };

/** c5: 2 GiB per vCPU, with its own 9x/18x sizes. */
const COMPUTE_C5: SizeTable = {
  large: [2, 4],
  xlarge: [4, 8],
  '2xlarge': [8, 16],
  '4xlarge': [16, 32],
  '9xlarge': [36, 72],
  '12xlarge': [48, 96],
  '18xlarge': [72, 144],
  '24xlarge': [96, 192],
};
const COMPUTE_C5A: SizeTable = {
  large: [2, 4],
  xlarge: [4, 8],
  '2xlarge': [8, 16],
  '4xlarge': [16, 32],
  '8xlarge': [32, 64],
  '12xlarge': [48, 96],
  '16xlarge': [64, 128],
  '24xlarge': [96, 192],
};
const COMPUTE_C6I: SizeTable = { ...COMPUTE_C5A, '32xlarge': [128, 256] };
const COMPUTE_C6A: SizeTable = { ...COMPUTE_C6I, '48xlarge': [192, 384] };

/** r5/r5a: 8 GiB per vCPU. */
const MEMORY_R5: SizeTable = {
  large: [2, 16],
  xlarge: [4, 32],
  '2xlarge': [8, 64],
  '4xlarge': [16, 128],
  '8xlarge': [32, 256],
  '12xlarge': [48, 384],
  '16xlarge': [64, 512],
  '24xlarge': [96, 768],
};
const MEMORY_R6I: SizeTable = { ...MEMORY_R5, '32xlarge': [128, 1024] };
const MEMORY_R6A: SizeTable = { ...MEMORY_R6I, '48xlarge': [192, 1536] };

const FAMILIES: Record<string, SizeTable> = {
  t2: BURSTABLE_T2,
  t3: BURSTABLE_T3,
  t3a: BURSTABLE_T3,
  m5: GENERAL_M5,
  m5a: GENERAL_M5,
  m6i: GENERAL_M6I,
  m6a: GENERAL_M6A,
  c5: COMPUTE_C5,
  c5a: COMPUTE_C5A,
  c6i: COMPUTE_C6I,
  c6a: COMPUTE_C6A,
  r5: MEMORY_R5,
  r5a: MEMORY_R5,
  r6i: MEMORY_R6I,
  r6a: MEMORY_R6A,
};

export const INSTANCE_TYPES: ReadonlyMap<string, InstanceSize> = new Map(
  Object.entries(FAMILIES).flatMap(([family, sizes]) =>
    Object.entries(sizes).map(([size, [vcpus, memoryGiB]]) => [`${family}.${size}`, { vcpus, memoryMiB: memoryGiB * GiB }] as const),
  ),
);

export const INSTANCE_FAMILIES: readonly string[] = Object.keys(FAMILIES);

/** The vCPUs and memory of an instance type, or undefined when Ferry does not know it. */
export function instanceSize(instanceType: string): InstanceSize | undefined {
  return INSTANCE_TYPES.get(instanceType);
}

/** Why a type is refused, naming the family's known sizes when the family exists. */
export function unknownInstanceTypeMessage(instanceType: string): string {
  const family = instanceType.split('.')[0] ?? '';
  const sizes = FAMILIES[family];
  if (sizes) return `Instance type ${instanceType} does not exist; ${family} comes in ${Object.keys(sizes).join(', ')}.`;
  return `Instance type ${JSON.stringify(instanceType)} is not one Ferry knows; use a type of the families ${INSTANCE_FAMILIES.join(', ')} (e.g. t3.medium).`;
}
