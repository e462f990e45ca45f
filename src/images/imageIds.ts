/** Image and snapshot ids, shaped like EC2's: a prefix and 17 lowercase hex digits. */
import { randomBytes } from 'node:crypto';

const hex17 = (): string => randomBytes(9).toString('hex').slice(0, 17);

export const newAmiId = (): string => `ami-${hex17()}`;
export const newSnapshotId = (): string => `snap-${hex17()}`;

export const AMI_ID = /^ami-[0-9a-f]{17}$/;
