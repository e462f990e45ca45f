/**
 * The NBD exports instances boot from: each disk of an instance's image served read-only by Ferry's image store on
 * a Unix socket in the instance's directory (the overlay's backing file names that socket). They live in this
 * process: while Ferry is down, an instance that is not yet hydrated gets I/O errors on blocks it has not copied
 * (QEMU reconnects once Ferry serves the socket again); a hydrated one no longer reads them at all, which is why
 * exports are closed as soon as an instance is hydrated.
 */
import { rm } from 'node:fs/promises';
import type { ImageStore } from '../images/imageStore.ts';
import type { ServedDisk } from '../images/serveDisk.ts';
import type { InstanceFiles } from './instanceFiles.ts';

export class DiskExports {
  readonly #images: ImageStore;
  readonly #files: InstanceFiles;
  readonly #served = new Map<string, Promise<ServedDisk[]>>();

  constructor(images: ImageStore, files: InstanceFiles) {
    this.#images = images;
    this.#files = files;
  }

  /** Serves every disk of `amiId` for the instance (once per process); resolves with the exports, disk 0 first. */
  serve(instanceId: string, amiId: string, diskCount: number): Promise<ServedDisk[]> {
    let served = this.#served.get(instanceId);
    if (!served) {
      served = this.#open(instanceId, amiId, diskCount);
      this.#served.set(instanceId, served);
      served.catch(() => this.#served.delete(instanceId));
    }
    return served;
  }

  isServing(instanceId: string): boolean {
    return this.#served.has(instanceId);
  }

  async close(instanceId: string): Promise<void> {
    const served = this.#served.get(instanceId);
    if (!served) return;
    this.#served.delete(instanceId);
    const exports = await served.catch(() => [] as ServedDisk[]);
    await Promise.all(exports.map((e) => e.close()));
    for (let disk = 0; disk < exports.length; disk++) await rm(this.#files.socket(instanceId, disk), { force: true });
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#served.keys()].map((id) => this.close(id)));
  }

  async #open(instanceId: string, amiId: string, diskCount: number): Promise<ServedDisk[]> {
    const exports: ServedDisk[] = [];
    try {
      for (let disk = 0; disk < diskCount; disk++) {
        const socket = this.#files.socket(instanceId, disk);
        await rm(socket, { force: true }); // a socket file left by a previous process
        const served = await this.#images.serveDisk(amiId, disk, socket);
        exports.push(served);
        await this.#files.shareSocket(socket);
      }
      return exports;
    } catch (error) {
      await Promise.all(exports.map((e) => e.close()));
      throw error;
    }
  }
}
