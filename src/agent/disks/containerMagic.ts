/**
 * Whether qemu, probing a file's format, could take it for anything but raw. qemu probes the first 2048 bytes of a
 * file against each format's signature (block/*.c: qcow, qcow2, qed, vmdk, vdi, vhdx, vpc, parallels, bochs, cloop,
 * luks) and dmg by its name; a file none of them claims is raw. This answers yes more often than qemu would (a
 * `version=` anywhere, any `#!` script, a VHD footer), so that a yes only means "ask qemu-img".
 */

/** How many leading bytes qemu's probe reads (BLOCK_PROBE_BUF_SIZE). */
export const PROBE_HEAD_BYTES = 2048;

const LEADING_SIGNATURES = [
  'QFI\xfb', // qcow, qcow2
  'QED\x00',
  'KDMV', // VMDK 4 sparse
  'COWD', // VMDK 3
  'vhdxfile',
  'conectix', // VHD (vpc)
  'WithoutFreeSpace', // parallels
  'WithouFreSpacExt',
  'Bochs Virtual HD Image',
  '#!', // cloop images are shell scripts
  'LUKS\xba\xbe',
];
const VDI_SIGNATURE = 0xbeda107f;

/**
 * `head`: the file's first bytes (up to PROBE_HEAD_BYTES); `tail`: its last 512 bytes (a VHD also carries its footer
 * there); `name`: the file's name.
 */
export function mayBeContainer(head: Buffer, tail: Buffer, name: string): boolean {
  if (/\.dmg$/i.test(name)) return true;
  const text = head.toString('latin1');
  if (LEADING_SIGNATURES.some((signature) => text.startsWith(signature))) return true;
  if (head.length >= 0x44 && head.readUInt32LE(0x40) === VDI_SIGNATURE) return true;
  if (/version[ \t]*=/.test(text)) return true; // a VMDK text descriptor
  return tail.toString('latin1').startsWith('conectix');
}
