/**
 * What a connector may report as its inventory: how many VMs, how long each field may be, and how one reported VM
 * reads. The connector API and the embedded connector both end in core/catalog.ts `applyInventory`, which holds
 * the VM count to INVENTORY_LIMITS; the wire reader (server/inventoryBody.ts) holds each entry to the rest.
 */
import { VM_MANAGER_TYPES } from './enums.ts';

export const INVENTORY_LIMITS = {
  /**
   * VMs one connector reports in one inventory. A connector serves one VM manager, and the largest vCenter holds
   * 45,000 registered VMs (vSphere 8 configuration maximums); an estate beyond that runs several connectors.
   */
  vmsPerConnector: 50_000,
  /** vmId, vmManagerId. */
  idLength: 256,
  /** vmName, vmManagerName. */
  nameLength: 1024,
  /** vmPath (a datastore path; PATH_MAX is 4096). */
  pathLength: 4096,
  /** reason (why a VM cannot be replicated). */
  reasonLength: 2048,
  /** details, as JSON text: the connector's facts about the VM (disks, OS). */
  detailsBytes: 16 * 1024,
} as const;

/** Disks of one VM that can be replicated: SMS fails a job for a VM with more than 22 volumes (spec §3.5). */
export const MAX_VM_DISKS = 22;

export interface VmManagerRef {
  vmManagerId: string;
  vmManagerName: string;
  vmManagerType: string;
}

export interface InventoryEntry {
  /** The VM manager the VM belongs to, when a connector serves several (default: the one it registered with). */
  manager?: VmManagerRef;
  vmId: string;
  vmName: string;
  vmPath: string;
  replicable: boolean;
  reason?: string;
  details?: unknown;
  /** `details` as JSON text, when whoever read the entry has it already (the wire reader does). */
  detailsJson?: string;
}

/**
 * An inventory read page by page (from a worker thread, see server/inventoryBody.ts): its size is known, and every
 * entry checked, before the first page is handed out.
 */
export interface InventoryPages {
  count: number;
  pages: AsyncIterable<readonly InventoryEntry[]>;
}

/** A reported VM that breaks a rule above; the message names the entry and the field. */
export class InventoryRejected extends Error {}

function text(vm: Record<string, unknown>, at: string, name: string, maxLength: number, required: boolean): string | undefined {
  const value = vm[name];
  if (value === undefined || value === null) {
    if (required) throw new InventoryRejected(`${at}.${name} is required and must be a non-empty string.`);
    return undefined;
  }
  if (typeof value !== 'string' || (required && value === '')) {
    throw new InventoryRejected(`${at}.${name} must be a ${required ? 'non-empty ' : ''}string.`);
  }
  if (value.length > maxLength) throw new InventoryRejected(`${at}.${name} must be at most ${maxLength} characters long; got ${value.length}.`);
  return value;
}

/** Reads `vms[index]` of an inventory as a connector sent it. */
export function readInventoryEntry(raw: unknown, index: number): InventoryEntry {
  const at = `vms[${index}]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InventoryRejected(`${at} must be an object.`);
  const vm = raw as Record<string, unknown>;
  const limits = INVENTORY_LIMITS;
  let manager: VmManagerRef | undefined;
  if (vm.vmManagerId !== undefined || vm.vmManagerType !== undefined) {
    const vmManagerType = text(vm, at, 'vmManagerType', limits.idLength, true)!;
    if (!(VM_MANAGER_TYPES as readonly string[]).includes(vmManagerType)) {
      throw new InventoryRejected(`${at}.vmManagerType must be one of ${VM_MANAGER_TYPES.join(', ')}.`);
    }
    manager = {
      vmManagerType,
      vmManagerId: text(vm, at, 'vmManagerId', limits.idLength, true)!,
      vmManagerName: text(vm, at, 'vmManagerName', limits.nameLength, true)!,
    };
  }
  if (vm.replicable !== undefined && vm.replicable !== null && typeof vm.replicable !== 'boolean') {
    throw new InventoryRejected(`${at}.replicable must be true or false.`);
  }
  let detailsJson: string | undefined;
  if (vm.details !== undefined && vm.details !== null) {
    detailsJson = JSON.stringify(vm.details);
    const size = Buffer.byteLength(detailsJson);
    if (size > limits.detailsBytes) throw new InventoryRejected(`${at}.details must be at most ${limits.detailsBytes} bytes of JSON; got ${size}.`);
  }
  return {
    manager,
    vmId: text(vm, at, 'vmId', limits.idLength, true)!,
    vmName: text(vm, at, 'vmName', limits.nameLength, true)!,
    vmPath: text(vm, at, 'vmPath', limits.pathLength, false) ?? '',
    replicable: vm.replicable !== false,
    reason: text(vm, at, 'reason', limits.reasonLength, false),
    // As text only: one string per VM is far cheaper to pass between threads and to keep than the parsed tree.
    detailsJson,
  };
}
