/**
 * The image store's keys: the key reference (a KMS key ARN, or the plain "key") behind each key id of the index,
 * and the sealer that opens blocks stored under it. Sealers passed to beginImage are used first; others come from
 * the store's resolver, once per key.
 */
import type { ImageDb } from './db.ts';
import { keyRefsById } from '../store/images/index.ts';
import { noSealerFor } from './blockFetcher.ts';
import { plainSealer, type BlockSealer } from './blockSealer.ts';

export class KeyRing {
  readonly #db: ImageDb;
  readonly #resolve: ((keyRef: string) => BlockSealer | Promise<BlockSealer>) | undefined;
  readonly #sealers = new Map<string, BlockSealer>([[plainSealer.keyRef, plainSealer]]);
  #keyRefs = new Map<number, string>();

  constructor(db: ImageDb, resolve: ((keyRef: string) => BlockSealer | Promise<BlockSealer>) | undefined) {
    this.#db = db;
    this.#resolve = resolve;
  }

  /** A sealer a run writes with (beginImage): it opens that key's blocks from now on. */
  remember(sealer: BlockSealer): void {
    this.#sealers.set(sealer.keyRef, sealer);
  }

  async keyRef(keyId: number): Promise<string> {
    let keyRef = this.#keyRefs.get(keyId);
    if (keyRef === undefined) {
      this.#keyRefs = await keyRefsById(this.#db);
      keyRef = this.#keyRefs.get(keyId);
    }
    if (keyRef === undefined) throw new Error(`unknown key id ${keyId}`);
    return keyRef;
  }

  async sealerFor(keyId: number): Promise<BlockSealer> {
    const keyRef = await this.keyRef(keyId);
    let sealer = this.#sealers.get(keyRef);
    if (!sealer && this.#resolve) {
      sealer = await this.#resolve(keyRef);
      this.#sealers.set(keyRef, sealer);
    }
    if (!sealer) throw noSealerFor(keyRef);
    return sealer;
  }
}
