/**
 * Shared memory that starts on a page boundary. `new SharedArrayBuffer(n)` of a few MiB comes from malloc, which
 * hands out large blocks 16 bytes past a page; O_DIRECT reads into such memory are refused (or, for writes, much
 * slower: see src/images/directIo.ts). A shared WebAssembly.Memory is mapped whole 64 KiB pages at a time.
 *
 * The memory handed out here is remembered, so a writer can tell that a buffer it was given lies on whole pages
 * and write it with O_DIRECT as it is, without copying it into a staging buffer first (src/images/packFile.ts).
 * Node gives no buffer's address, so this is the only way to know.
 */

/** The part of the WebAssembly global used here (TypeScript's lib for Node does not declare it). */
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => { buffer: ArrayBufferLike };
};

const WASM_PAGE = 65536;
/** Page size assumed by pageAligned (the largest logical block size O_DIRECT asks for). */
export const MEMORY_PAGE = 4096;

const pageMapped = new WeakSet<ArrayBufferLike>();

/** At least `bytes` of zeroed shared memory (whole 64 KiB pages). */
export function pageAlignedShared(bytes: number): SharedArrayBuffer {
  const pages = Math.ceil(bytes / WASM_PAGE);
  try {
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer as SharedArrayBuffer;
    pageMapped.add(memory);
    return memory;
  } catch {
    return new SharedArrayBuffer(bytes); // no WebAssembly: unaligned, so reads go through the page cache
  }
}

/** At least `bytes` of zeroed (unshared) memory starting at a page boundary, or unaligned without WebAssembly. */
export function pageAlignedBuffer(bytes: number): Buffer {
  try {
    const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE) }).buffer;
    pageMapped.add(memory);
    return Buffer.from(memory, 0, bytes);
  } catch {
    return Buffer.alloc(bytes);
  }
}

/** Whether `buffer` starts on a page and spans whole pages of memory handed out here. */
export function pageAligned(buffer: Uint8Array): boolean {
  return buffer.byteOffset % MEMORY_PAGE === 0 && buffer.byteLength % MEMORY_PAGE === 0 && buffer.byteLength > 0 && pageMapped.has(buffer.buffer);
}
