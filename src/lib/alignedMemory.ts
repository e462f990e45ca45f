/**
 * Shared memory that starts on a page boundary. `new SharedArrayBuffer(n)` of a few MiB comes from malloc, which
 * hands out large blocks 16 bytes past a page; O_DIRECT reads into such memory are refused (or, for writes, much
 * slower: see src/images/directIo.ts). A shared WebAssembly.Memory is mapped whole 64 KiB pages at a time.
 */

/** The part of the WebAssembly global used here (TypeScript's lib for Node does not declare it). */
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } };

const WASM_PAGE = 65536;

/** At least `bytes` of zeroed shared memory (whole 64 KiB pages). */
export function pageAlignedShared(bytes: number): SharedArrayBuffer {
  const pages = Math.ceil(bytes / WASM_PAGE);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
  } catch {
    return new SharedArrayBuffer(bytes); // no WebAssembly: unaligned, so reads go through the page cache
  }
}
