/**
 * Copy-first launches (pure rule). A guest booting through Ferry's NBD export reaches its boot marker about 0.7 s
 * later than one booting from a local file on the reference machine (the firmware's and the boot loader's many
 * small synchronous reads each cross the export; bench/README.md). Copying a small image whole before the first
 * start costs less than that, and the instance is then independent of the image store from the outset; a large
 * image boots at once from the export and is pulled in the background (hydration), or the boot would wait for a
 * full copy.
 *
 * The line is the instance's *data* (the image's stored data blocks), not its virtual size: a 4 GiB disk holding
 * 20 MiB copies as fast as a 20 MiB one. 64 MiB: the copy runs at about 150 MiB/s through the export here, so 64 MiB
 * takes about 0.45 s, under the 0.7 s it saves (bench/README.md, "Copy-first", says how it was measured).
 */

export const DEFAULT_COPY_FIRST_MAX_MIB = 64;

const MIB = 1024 * 1024;

/** Is an image holding `dataBytes` of data copied into the instance's disks before its first start? (0 = never) */
export function copiesFirst(dataBytes: number, maxMiB: number): boolean {
  return maxMiB > 0 && dataBytes <= maxMiB * MIB;
}

