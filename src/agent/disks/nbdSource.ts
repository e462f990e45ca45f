/**
 * Every format other than raw / flat VMDK: a private read-only qemu-nbd (see qemuNbd.ts) and one connection of
 * Ferry's NBD client to it (pipelined, queue depth 16 by default).
 *
 * extents(): base:allocation. An extent is `zero` when NBD_STATE_ZERO is set (qemu sets HOLE|ZERO for
 * unallocated clusters and ZERO for zero clusters). HOLE alone does not promise zeros in the NBD spec, so it is
 * treated as data. VHDX reports one data extent: qemu has no allocation information for it (its base:allocation
 * says "data" everywhere anyway), and zero blocks are found by content.
 *
 * changedExtents(): the dirty ranges of the qemu:dirty-bitmap:NAME context when opened with a dirty bitmap.
 * bytesRead: bytes that arrived in data chunks; hole chunks cost no transfer and are not counted.
 */
import { NbdClient, type NbdExtent } from '../nbd/client.ts';
import { NbdError } from '../nbd/errors.ts';
import { CONTEXT_BASE_ALLOCATION, STATE_DIRTY, STATE_ZERO, dirtyBitmapContext } from '../nbd/protocol.ts';
import { DiskError, type DiskFormat, type DiskSource, type Extent } from './diskSource.ts';
import { QemuNbdServer } from './qemuNbd.ts';
import { qemuMessage } from './qemuTools.ts';
import { checkProcessFiles, type Confinement } from './confine.ts';

export interface NbdSourceOptions {
  format: DiskFormat;
  /** Expected virtual size (from probing); the export must match. */
  size: number;
  dirtyBitmap?: string;
  queueDepth?: number;
  requestTimeoutMs?: number;
  /** The datastore qemu-nbd's files must be in: checked after the handshake, before any read (confine.ts). */
  confine?: Confinement;
}

export class NbdDiskSource implements DiskSource {
  readonly path: string;
  readonly format: DiskFormat;
  readonly size: number;
  readonly dirtyBitmap: string | undefined;
  readonly server: QemuNbdServer;
  readonly client: NbdClient;
  #closing: Promise<void> | undefined;

  private constructor(path: string, server: QemuNbdServer, client: NbdClient, options: NbdSourceOptions) {
    this.path = path;
    this.server = server;
    this.client = client;
    this.format = options.format;
    this.size = client.size;
    this.dirtyBitmap = options.dirtyBitmap;
  }

  static async open(path: string, options: NbdSourceOptions): Promise<NbdDiskSource> {
    const bitmaps = options.dirtyBitmap === undefined ? [] : [options.dirtyBitmap];
    const server = await QemuNbdServer.start(path, { format: options.format, bitmaps, confine: options.confine });
    let client: NbdClient | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          client = await NbdClient.connect({
            socketPath: server.socketPath,
            exportName: server.exportName,
            metaContexts: [CONTEXT_BASE_ALLOCATION, ...bitmaps.map(dirtyBitmapContext)],
            ...(options.queueDepth === undefined ? {} : { queueDepth: options.queueDepth }),
            ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
          });
          break;
        } catch (error) {
          // The socket file exists a moment before qemu-nbd listens on it.
          if (error instanceof NbdError && error.code === 'ECONNREFUSED' && attempt < 50 && server.running) {
            await new Promise((r) => setTimeout(r, 10));
            continue;
          }
          throw error;
        }
      }
      if (client.size !== options.size) {
        throw new DiskError(path, `qemu-nbd exports ${client.size} bytes but qemu-img info reported ${options.size}`);
      }
      for (const bitmap of bitmaps) {
        if (!client.contexts.has(dirtyBitmapContext(bitmap))) {
          throw new DiskError(path, `qemu-nbd did not offer the ${dirtyBitmapContext(bitmap)} context`);
        }
      }
      // The export is open once the handshake has told its size: nothing has been read through it yet.
      if (options.confine) await checkProcessFiles(options.confine, server.pid!, path);
      return new NbdDiskSource(path, server, client, options);
    } catch (error) {
      client?.destroy();
      if (error instanceof DiskError) {
        await server.stop();
        throw error;
      }
      // qemu-nbd listens before it opens the image, so an image it cannot open shows up as a dropped handshake:
      // give it a moment to exit and say why.
      await Promise.race([server.exited, new Promise((r) => setTimeout(r, 1000))]);
      const exited = !server.running;
      await server.stop();
      if (exited && server.stderr.trim()) throw new DiskError(path, `qemu-nbd failed: ${qemuMessage(server.stderr)}`, { cause: error });
      throw new DiskError(path, `cannot open the NBD export: ${(error as Error).message}`, { cause: error });
    }
  }

  get bytesRead(): number {
    return this.client.bytesReceived;
  }

  async *extents(): AsyncGenerator<Extent> {
    if (this.size === 0) return;
    if (this.format === 'vhdx') {
      yield { offset: 0, length: this.size, zero: false };
      return;
    }
    let pending: Extent | undefined;
    for await (const e of this.#status(CONTEXT_BASE_ALLOCATION)) {
      const zero = (e.flags & STATE_ZERO) !== 0;
      if (pending && pending.zero === zero) {
        pending.length += e.length;
        continue;
      }
      if (pending) yield pending;
      pending = { offset: e.offset, length: e.length, zero };
    }
    if (pending) yield pending;
  }

  changedExtents(): AsyncIterable<{ offset: number; length: number }> | undefined {
    const bitmap = this.dirtyBitmap;
    if (bitmap === undefined) return undefined;
    const self = this;
    return (async function* () {
      if (self.size === 0) return;
      for await (const e of self.#status(dirtyBitmapContext(bitmap))) {
        if ((e.flags & STATE_DIRTY) !== 0) yield { offset: e.offset, length: e.length };
      }
    })();
  }

  async *#status(context: string): AsyncGenerator<NbdExtent> {
    try {
      yield* this.client.blockStatus(context);
    } catch (error) {
      throw this.#wrap(error, `block status (${context})`);
    }
  }

  async read(offset: number, length: number, target: Buffer): Promise<void> {
    try {
      await this.client.read(offset, length, target);
    } catch (error) {
      if (error instanceof RangeError) throw error;
      throw this.#wrap(error, `read of ${length} bytes at ${offset}`);
    }
  }

  #wrap(error: unknown, what: string): DiskError {
    const serverGone = !this.server.running;
    const detail = serverGone && this.server.stderr ? ` (qemu-nbd exited: ${qemuMessage(this.server.stderr)})` : serverGone ? ' (qemu-nbd exited)' : '';
    return new DiskError(this.path, `${what} failed: ${(error as Error).message}${detail}`, { cause: error });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.client.close();
      } finally {
        await this.server.stop();
      }
    })();
    return this.#closing;
  }
}
