/**
 * Copy-first launches (pure rule). A guest booting through Ferry's NBD export is slower to its boot marker than one
 * booting from a local file (the firmware's and the boot loader's many small synchronous reads each cross the
 * export: ~0.7 s with QEMU alone, 0.13-0.25 s within Ferry's launch, where the start is also paid; bench/README.md).
 * Copying a small image whole before the first start costs less than that, and the instance is then independent of
 * the image store from the outset; a large image boots at once from the export and is pulled in the background
 * (hydration), or the boot would wait for a full copy.
 *
 * The line is the instance's *data* (the image's stored data blocks), not its virtual size: a 4 GiB disk holding
 * 20 MiB copies as fast as a 20 MiB one. 64 MiB, measured (bench/launchCopyCost.ts): the copy takes 0.1 s for
 * 19 MiB of data, 0.27 s for 67 MiB, 0.46 s for 131 MiB, against ~0.07 s for the overlay it replaces — about
 * 3 ms per MiB more — so it costs what the boot through the export loses within Ferry's launch (0.13-0.25 s) at
 * 60-80 MiB; against the 0.7 s of QEMU alone it would pay up to ~230 MiB. The line takes the lower break-even
 * (bench/README.md, "Copy-first").
 */

export const DEFAULT_COPY_FIRST_MAX_MIB = 64;

const MIB = 1024 * 1024;

/**
 * The copies are sparse raw files, and ext4 holds no file over 16 TiB: a disk larger than that boots through the
 * export however little data it holds.
 */
export const MAX_COPIED_DISK_BYTES = 16 * 1024 * 1024 * MIB - 4096;

/**
 * Is an image holding `dataBytes` of data, its largest disk `largestDiskBytes`, copied into the instance's disks
 * before its first start? (`maxMiB` 0 = never)
 */
export function copiesFirst(dataBytes: number, largestDiskBytes: number, maxMiB: number): boolean {
  return maxMiB > 0 && dataBytes <= maxMiB * MIB && largestDiskBytes <= MAX_COPIED_DISK_BYTES;
}

