/**
 * A small ISO 9660 image with Joliet names, written by Ferry itself: what an instance's NoCloud seed needs (a volume
 * label and a few files in its root, noCloudSeed.ts). Building it with genisoimage put a program start (40–150 ms
 * here) on the way to every boot, for a few kilobytes.
 *
 * Layout, 2048-byte sectors: 16 empty ones (the system area); the primary volume descriptor, the Joliet
 * supplementary one (UCS-2 level 3) and the set terminator; each tree's path tables (little- then big-endian: one
 * entry, the root); the primary root directory (8.3 names, `USER_DAT.;1`) and the Joliet one (the real names, which
 * Linux and Windows show); the files' data, each from a sector of its own, shared by both trees; and 150 empty
 * sectors at the end, as genisoimage pads, so a drive reading ahead past the last file reads zeros, not an error.
 * Readers: the guest kernel's isofs (Joliet), blkid and busybox findfs (the label), isoinfo (test/unit/isoImage.test.ts).
 */

const SECTOR = 2048;
const SYSTEM_AREA_SECTORS = 16;
const PAD_SECTORS = 150;
const MAX_FILES = 16;

export interface IsoFile {
  /** A name in the root directory: letters, digits, `-`, `_` and `.`, at most 64 characters. */
  name: string;
  data: Buffer;
}

function both16(buffer: Buffer, at: number, value: number): void {
  buffer.writeUInt16LE(value, at);
  buffer.writeUInt16BE(value, at + 2);
}

function both32(buffer: Buffer, at: number, value: number): void {
  buffer.writeUInt32LE(value, at);
  buffer.writeUInt32BE(value, at + 4);
}

/** A field of `length` bytes: `text` then spaces, in ASCII or (Joliet) UCS-2 big-endian. */
function textField(text: string, length: number, joliet: boolean): Buffer {
  if (!joliet) return Buffer.from(text.padEnd(length, ' ').slice(0, length), 'latin1');
  const field = Buffer.alloc(length);
  for (let i = 0; i + 1 < length; i += 2) field.writeUInt16BE(i / 2 < text.length ? text.charCodeAt(i / 2) : 0x20, i);
  return field;
}

/** A volume descriptor's 17-byte date: digits YYYYMMDDHHMMSScc and the offset from GMT (UTC here). */
function longDate(date: Date | undefined): Buffer {
  if (!date) return Buffer.concat([Buffer.from('0'.repeat(16), 'latin1'), Buffer.alloc(1)]);
  const two = (n: number) => String(n).padStart(2, '0');
  const digits = `${date.getUTCFullYear()}${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}00`;
  return Buffer.concat([Buffer.from(digits, 'latin1'), Buffer.alloc(1)]);
}

/** One directory record: the extent, its length, the date, flags (2: a directory) and the identifier. */
function directoryRecord(identifier: Buffer, extent: number, length: number, date: Date, directory: boolean): Buffer {
  const size = 33 + identifier.length + (identifier.length % 2 === 0 ? 1 : 0);
  const record = Buffer.alloc(size);
  record.writeUInt8(size, 0);
  both32(record, 2, extent);
  both32(record, 10, length);
  record.writeUInt8(date.getUTCFullYear() - 1900, 18);
  record.writeUInt8(date.getUTCMonth() + 1, 19);
  record.writeUInt8(date.getUTCDate(), 20);
  record.writeUInt8(date.getUTCHours(), 21);
  record.writeUInt8(date.getUTCMinutes(), 22);
  record.writeUInt8(date.getUTCSeconds(), 23);
  record.writeUInt8(directory ? 2 : 0, 25);
  both16(record, 28, 1); // volume sequence number
  record.writeUInt8(identifier.length, 32);
  identifier.copy(record, 33);
  return record;
}

/** The primary tree's name for a file: level 1 (8.3, upper case, `_` for anything else) with version 1. */
function primaryName(name: string): string {
  const dot = name.lastIndexOf('.');
  const [base, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot + 1)] : [name, ''];
  const clean = (s: string, max: number) => s.toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, max);
  return `${clean(base, 8)}.${clean(ext, 3)};1`;
}

function ucs2(text: string): Buffer {
  const out = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) out.writeUInt16BE(text.charCodeAt(i), i * 2);
  return out;
}

/** The image's bytes: `files` in its root directory, `volumeId` its label (at most 16 characters). */
export function isoImage(volumeId: string, files: readonly IsoFile[], date = new Date()): Buffer {
  if (!/^[A-Za-z0-9_]{1,16}$/.test(volumeId)) throw new Error(`bad ISO volume id ${JSON.stringify(volumeId)}`);
  if (files.length > MAX_FILES) throw new Error(`at most ${MAX_FILES} files`);
  for (const f of files) if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(f.name)) throw new Error(`bad ISO file name ${JSON.stringify(f.name)}`);
  const primary = files.map((f) => ({ file: f, id: primaryName(f.name) }));
  if (new Set(primary.map((p) => p.id)).size !== files.length) throw new Error('two files share an 8.3 name');
  // Each directory lists its records sorted by identifier.
  primary.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const joliet = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const L_PATH = [19, 21];
  const M_PATH = [20, 22];
  const ROOT = [23, 24];
  let next = 25;
  const extentOf = new Map<IsoFile, number>();
  for (const f of files) {
    extentOf.set(f, next);
    next += Math.ceil(f.data.length / SECTOR);
  }
  const dataEnd = next;
  const total = dataEnd + PAD_SECTORS;
  const image = Buffer.alloc(total * SECTOR);

  const roots = [0, 1].map((tree) => {
    const self = directoryRecord(Buffer.from([0]), ROOT[tree]!, SECTOR, date, true);
    const parent = directoryRecord(Buffer.from([1]), ROOT[tree]!, SECTOR, date, true);
    const records = tree === 0
      ? primary.map((p) => directoryRecord(Buffer.from(p.id, 'latin1'), extentOf.get(p.file)!, p.file.data.length, date, false))
      : joliet.map((f) => directoryRecord(ucs2(f.name), extentOf.get(f)!, f.data.length, date, false));
    const listing = Buffer.concat([self, parent, ...records]);
    if (listing.length > SECTOR) throw new Error('the root directory does not fit one sector');
    listing.copy(image, ROOT[tree]! * SECTOR);
    return self;
  });

  for (const tree of [0, 1]) {
    // The path tables: one entry, the root (identifier 0, parent 1).
    const l = L_PATH[tree]! * SECTOR;
    image.writeUInt8(1, l);
    image.writeUInt32LE(ROOT[tree]!, l + 2);
    image.writeUInt16LE(1, l + 6);
    const m = M_PATH[tree]! * SECTOR;
    image.writeUInt8(1, m);
    image.writeUInt32BE(ROOT[tree]!, m + 2);
    image.writeUInt16BE(1, m + 6);

    const d = (SYSTEM_AREA_SECTORS + tree) * SECTOR;
    const isJoliet = tree === 1;
    image.writeUInt8(isJoliet ? 2 : 1, d);
    image.write('CD001', d + 1, 'latin1');
    image.writeUInt8(1, d + 6);
    textField('LINUX', 32, isJoliet).copy(image, d + 8);
    textField(volumeId, 32, isJoliet).copy(image, d + 40);
    both32(image, d + 80, total);
    if (isJoliet) image.write('%/E', d + 88, 'latin1'); // UCS-2 level 3
    both16(image, d + 120, 1); // volume set size
    both16(image, d + 124, 1); // volume sequence number
    both16(image, d + 128, SECTOR);
    both32(image, d + 132, 10); // path table size: one 10-byte entry
    image.writeUInt32LE(L_PATH[tree]!, d + 140);
    image.writeUInt32BE(M_PATH[tree]!, d + 148);
    roots[tree]!.copy(image, d + 156);
    for (const [at, length] of [[190, 128], [318, 128], [446, 128], [574, 128], [702, 37], [739, 37], [776, 37]] as const) {
      textField('', length, isJoliet).copy(image, d + at);
    }
    longDate(date).copy(image, d + 813);
    longDate(date).copy(image, d + 830);
    longDate(undefined).copy(image, d + 847);
    longDate(undefined).copy(image, d + 864);
    image.writeUInt8(1, d + 881); // file structure version
  }
  const terminator = (SYSTEM_AREA_SECTORS + 2) * SECTOR;
  image.writeUInt8(255, terminator);
  image.write('CD001', terminator + 1, 'latin1');
  image.writeUInt8(1, terminator + 6);

  for (const f of files) f.data.copy(image, extentOf.get(f)! * SECTOR);
  return image;
}
