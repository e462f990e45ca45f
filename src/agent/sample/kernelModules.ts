/**
 * Reads what a Linux kernel module says about itself (the NUL-separated `key=value` strings of its ELF `.modinfo`
 * section: name, depends, …) and orders a set of wanted modules with their dependencies for `insmod`. The sample's
 * kernels come straight from a Debian .deb, where `modules.dep` does not exist yet (depmod writes it at install
 * time) and kmod's modinfo may not be installed, so Ferry reads the ELF itself.
 */

export interface ModuleInfo {
  /** The module's own name (`nvme-core`, `virtio_blk`), as `depends=` of other modules spells it. */
  name: string;
  depends: string[];
}

/** The `.modinfo` strings of a module file (ELF64, little-endian, as every x86-64 module is). */
export function readModinfo(elf: Buffer): Map<string, string> {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const sectionTable = Number(elf.readBigUInt64LE(0x28));
  const entrySize = elf.readUInt16LE(0x3a);
  const count = elf.readUInt16LE(0x3c);
  const namesIndex = elf.readUInt16LE(0x3e);
  if (entrySize < 64 || sectionTable + entrySize * count > elf.length || namesIndex >= count) throw new Error('truncated ELF section table');
  const section = (i: number) => {
    const at = sectionTable + i * entrySize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 24)), size: Number(elf.readBigUInt64LE(at + 32)) };
  };
  const names = section(namesIndex);
  const out = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const s = section(i);
    const nameStart = names.offset + s.name;
    const nameEnd = elf.indexOf(0, nameStart);
    if (elf.toString('latin1', nameStart, nameEnd) !== '.modinfo') continue;
    if (s.offset + s.size > elf.length) throw new Error('truncated .modinfo section');
    for (const entry of elf.toString('utf8', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      // A key can repeat (alias=, parm=); the first value is enough for name and depends, which appear once.
      if (eq > 0 && !out.has(entry.slice(0, eq))) out.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return out;
  }
  throw new Error('no .modinfo section');
}

export function moduleInfo(elf: Buffer, fileName: string): ModuleInfo {
  const info = readModinfo(elf);
  const name = info.get('name') ?? fileName.replace(/\.ko$/, '');
  const depends = (info.get('depends') ?? '').split(',').filter(Boolean);
  return { name, depends };
}

/** `nvme-core` and `nvme_core` name the same module. */
export const moduleKey = (name: string): string => name.replace(/-/g, '_');

/**
 * `wanted` and everything they depend on, dependencies first (the order `insmod` needs). A wanted module that is
 * neither available nor built in is reported in `absent` (a kernel flavour without that driver); a missing
 * dependency is an error, because the module that needs it could not load.
 */
export function insmodOrder(
  wanted: readonly string[],
  available: ReadonlyMap<string, ModuleInfo>,
  builtin: ReadonlySet<string> = new Set(),
): { order: string[]; absent: string[] } {
  const order: string[] = [];
  const absent: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, neededBy: string | undefined) => {
    const key = moduleKey(name);
    if (state.get(key) === 'done' || builtin.has(key)) return;
    if (state.get(key) === 'visiting') throw new Error(`kernel modules depend on each other in a cycle through ${name}`);
    const info = available.get(key);
    if (!info) {
      if (neededBy) throw new Error(`kernel module ${neededBy} needs ${name}, which the kernel package does not contain`);
      absent.push(name);
      return;
    }
    state.set(key, 'visiting');
    for (const dependency of info.depends) visit(dependency, info.name);
    state.set(key, 'done');
    order.push(key);
  };
  for (const name of wanted) visit(name, undefined);
  return { order, absent };
}
