/** The block every disk is cut into, on both sides of the connector protocol. */

/** 512 KiB: the EBS direct API's block size, so the local image store and the AWS target share one engine. */
export const BLOCK_SIZE = 512 * 1024;

/** How many blocks a disk of `sizeBytes` has (the last one may be partial). */
export function blockCount(sizeBytes: number): number {
  return Math.ceil(sizeBytes / BLOCK_SIZE);
}
