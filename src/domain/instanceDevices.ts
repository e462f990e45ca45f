/**
 * Which virtual hardware a launched instance gets, so that the migrated guest finds its disks with the drivers it
 * already has. The rule, by where the server came from (`deviceModel: 'auto'`):
 *
 * | source                          | disks + CD-ROM        | NIC    | why                                              |
 * |---------------------------------|-----------------------|--------|--------------------------------------------------|
 * | KVM / libvirt (kind `kvm`)      | virtio-blk (+ virtio-scsi CD-ROM) | virtio | what it ran on; every KVM guest has virtio  |
 * | VMware (VSPHERE, kind `vmware`) | SATA (AHCI)           | e1000  | VMware guests have no virtio drivers; AHCI and   |
 * |                                 |                       |        | e1000 are in every Linux and Windows in-box      |
 * | Hyper-V (HYPERV-MANAGER)        | SATA (AHCI)           | e1000  | same reasoning: Hyper-V's own devices (storvsc,  |
 * |                                 |                       |        | netvsc) do not exist in QEMU; AHCI/e1000 do      |
 * | anything else                   | SATA (AHCI)           | e1000  | the most widely supported pair                   |
 *
 * An explicit model overrides the rule (the App layer maps an app or server tag to it): `virtio`, `sata`, `scsi`
 * (an LSI 53C895A controller, which VMware's "LSI Logic" guests and Linux's sym53c8xx drive) or `ide` (PIIX on the
 * i440FX machine type, for old guests). The NoCloud seed is a CD-ROM on the same bus family as the disks, so a guest
 * that can read its disk can read its seed. The NIC is virtio with virtio disks and e1000 otherwise.
 */

export const DEVICE_MODELS = ['auto', 'virtio', 'sata', 'scsi', 'ide'] as const;
export type DeviceModel = (typeof DEVICE_MODELS)[number];
export type DiskBus = Exclude<DeviceModel, 'auto'>;
export type NicModel = 'virtio' | 'e1000';

export interface ServerSource {
  /** SMS's vmManagerType of the server (VSPHERE, HYPERV-MANAGER, SCVMM). */
  vmManagerType: string | null;
  /** The datastore kind the connector reported in the server's details (vmware, kvm, hyperv). */
  kind: string | null;
}

export function resolveDiskBus(model: DeviceModel, source: ServerSource): DiskBus {
  if (model !== 'auto') return model;
  if (source.kind === 'kvm') return 'virtio';
  return 'sata';
}

export function nicModelFor(bus: DiskBus): NicModel {
  return bus === 'virtio' ? 'virtio' : 'e1000';
}

/** IDE has two channels of two devices: at most 3 disks leave a place for the seed's CD-ROM. */
export const MAX_DISKS_BY_BUS: Record<DiskBus, number> = { virtio: 22, sata: 22, scsi: 6, ide: 3 };

export interface DeviceLayout {
  machine: 'q35' | 'pc';
  bus: DiskBus;
  nic: NicModel;
  /** Target device names, disk 0 first. */
  disks: string[];
  cdrom: { bus: 'sata' | 'scsi' | 'ide'; dev: string };
  /** A SCSI controller to add, if the disks or the CD-ROM need one. */
  scsiController?: 'virtio-scsi' | 'lsilogic';
}

const letters = (i: number): string => (i < 26 ? String.fromCharCode(97 + i) : letters(Math.floor(i / 26) - 1) + String.fromCharCode(97 + (i % 26)));

/** Machine type, controller and device names for `diskCount` disks on `bus`. */
export function deviceLayout(bus: DiskBus, diskCount: number): DeviceLayout {
  if (diskCount < 1 || diskCount > MAX_DISKS_BY_BUS[bus]) {
    throw new RangeError(`A ${bus} launch takes 1 to ${MAX_DISKS_BY_BUS[bus]} disks; the image has ${diskCount}.`);
  }
  const disks = Array.from({ length: diskCount }, (_, i) => i);
  switch (bus) {
    case 'virtio':
      return { machine: 'q35', bus, nic: 'virtio', disks: disks.map((i) => `vd${letters(i)}`), cdrom: { bus: 'scsi', dev: 'sda' }, scsiController: 'virtio-scsi' };
    case 'sata':
      return { machine: 'q35', bus, nic: 'e1000', disks: disks.map((i) => `sd${letters(i)}`), cdrom: { bus: 'sata', dev: `sd${letters(diskCount)}` } };
    case 'scsi':
      return { machine: 'q35', bus, nic: 'e1000', disks: disks.map((i) => `sd${letters(i)}`), cdrom: { bus: 'scsi', dev: `sd${letters(diskCount)}` }, scsiController: 'lsilogic' };
    case 'ide':
      // hda, hdb on the first channel, hdc (the CD-ROM) and hdd on the second.
      return { machine: 'pc', bus, nic: 'e1000', disks: ['hda', 'hdb', 'hdd'].slice(0, diskCount), cdrom: { bus: 'ide', dev: 'hdc' } };
  }
}
