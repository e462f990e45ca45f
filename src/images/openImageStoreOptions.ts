/** What openImageStore (imageStore.ts) takes. */
import type { Kysely } from 'kysely';
import type { BlockSealer } from './blockSealer.ts';
import type { BlockStorage } from './blocks/blockStorage.ts';
import type { Compression, ImageStoreLog } from './types.ts';

export interface OpenImageStoreOptions {
  /** The control plane's Kysely instance, migrated to version 2 or later. */
  db: Kysely<any>;
  dataDir: string;
  log?: ImageStoreLog;
  /** For `ferry images` beside a running service: no writes, no recovery, nothing that needs the writer's role. */
  readOnly?: boolean;
  /** Opens blocks of encrypted images (keyRef = the KMS key ARN). Sealers passed to beginImage are used first. */
  resolveSealer?: (keyRef: string) => BlockSealer | Promise<BlockSealer>;
  compression?: Compression;
  packSizeBytes?: number;
  flushBytes?: number;
  /** Write packs with O_DIRECT where the filesystem allows it (default: unless FERRY_DIRECT_IO=off). */
  directIo?: boolean;
  now?: () => number;
  /**
   * Where block bytes live (blocks/blockStorage.ts); default: local pack files under `<dataDir>/images`. The store
   * closes it when it closes.
   */
  blocks?: BlockStorage;
}
