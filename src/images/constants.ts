/** Sizes and magic numbers of the image store's on-disk formats (see format notes in packFile.ts and manifest.ts). */

import { BLOCK_SIZE } from '../domain/blocks.ts';

/** The block size of every image: the EBS direct API's, which the whole data plane shares (domain/blocks.ts). */
export const IMAGE_BLOCK_SIZE = BLOCK_SIZE;

/**
 * The largest disk an image holds: 64 TiB, the largest EBS volume (io2 Block Express), so every image also fits the
 * AWS target. Sizes a connector declares are refused above it (and above what the server catalog saw).
 */
export const MAX_DISK_BYTES = 64 * 2 ** 40;

/** Default size at which a pack file is sealed and a new one started. */
export const DEFAULT_PACK_SIZE = 128 * 1024 * 1024;

/** Index rows are committed (after one fdatasync of the pack) at least every this many pending bytes. */
export const DEFAULT_FLUSH_BYTES = 64 * 1024 * 1024;

export const BLOCK_FLAG_ZSTD = 1;
