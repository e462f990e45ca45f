/**
 * Copy-first launches (pure rule). A guest booting through Ferry's NBD export reaches its boot marker about 0.7 s
 * later than one booting from a local file on the reference machine (the firmware's and the boot loader's many
 * small synchronous reads each cross the export; bench/README.md). Copying a small image whole before the first
 * start costs less than that, and the instance is then independent of the image store from the outset; a large
 * image boots at once from the export and is pulled in the background (hydration), or the boot would wait for a
 * full copy.
 *
 * The line is the instance's *data* (the image's stored data blocks), not its virtual size: a 4 GiB disk holding
 * 20 MiB copies as fast as a 20 MiB one. 64 MiB: through the export, `qemu-img convert` of 19 MiB of data takes
 * 0.3 s here, of 67 MiB 0.6 s, of 131 MiB 0.8 s (bench/launchCopyCost.ts), so the copy costs what a boot through the
 * export loses (~0.7 s) at about 70 MiB; the line is set a little under it (bench/README.md, "Copy-first").
 */

export const DEFAULT_COPY_FIRST_MAX_MIB = 64;

const MIB = 1024 * 1024;

/** Is an image holding `dataBytes` of data copied into the instance's disks before its first start? (0 = never) */
export function copiesFirst(dataBytes: number, maxMiB: number): boolean {
  return maxMiB > 0 && dataBytes <= maxMiB * MIB;
}

