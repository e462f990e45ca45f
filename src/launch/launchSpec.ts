/**
 * Checks an InstanceSpec and resolves it into what the instance row stores: the launch plan (devices by the source
 * hypervisor, network by the rules in networks.ts, sizes, timeouts) and the seed's inputs. Every size a caller
 * controls is bounded here; a bad value is an InvalidParameterException that names it.
 */
import type { Core } from '../core/context.ts';
import { VALIDATION_ID } from '../domain/instanceConsole.ts';
import { DEVICE_MODELS, deviceLayout, resolveDiskBus, type DeviceModel } from '../domain/instanceDevices.ts';
import type { ImageStore } from '../images/imageStore.ts';
import { invalidParameter } from '../lib/errors.ts';
import * as catalog from '../store/catalog/index.ts';
import * as jobs from '../store/jobs/index.ts';
import type { LaunchInputs, LaunchPlan } from './instanceRepo.ts';
import type { InstanceSpec } from '../apps/instances.ts';
import { DEFAULT_NETWORK, ensureNetworkReady, resolveNetwork } from './networks.ts';
import type { Virsh } from './virsh.ts';

/** EC2's own limit on user data. */
export const MAX_USER_DATA_BYTES = 16 * 1024;
export const MAX_SSH_KEY_BYTES = 16 * 1024;
export const MAX_VALIDATIONS = 50;
export const MAX_VALIDATION_SCRIPT_BYTES = 64 * 1024;
export const MAX_CONFIGURE_SCRIPT_BYTES = 64 * 1024;
export const MAX_VALIDATION_NAME = 255;
export const MAX_LABELS = 50;
export const MAX_VCPUS = 128;
export const MIN_MEMORY_MIB = 64;
export const MAX_MEMORY_MIB = 4 * 1024 * 1024;
export const DEFAULT_BOOT_TIMEOUT_MS = 5 * 60_000;
export const MAX_BOOT_TIMEOUT_MS = 24 * 3600_000;
export const DEFAULT_VALIDATION_TIMEOUT_MS = 30 * 60_000;

function integerIn(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidParameter(`${what} must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}.`);
  }
  return value;
}

function checkSshKey(key: string): string {
  const trimmed = key.trim();
  if (Buffer.byteLength(trimmed) > MAX_SSH_KEY_BYTES || !/^(ssh-|ecdsa-|sk-)[\w@.-]+ [A-Za-z0-9+/=]+( [^"\\\u0000-\u001f\u007f]*)?$/.test(trimmed)) {
    throw invalidParameter('sshPublicKey must be one OpenSSH public key line (type, base64 key, optional comment).');
  }
  return trimmed;
}

function checkLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = Object.entries(labels ?? {});
  if (entries.length > MAX_LABELS) throw invalidParameter(`At most ${MAX_LABELS} labels.`);
  for (const [key, value] of entries) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/.test(key)) throw invalidParameter(`Label key ${JSON.stringify(key)} must be 1–128 letters, digits or ._:/-.`);
    if (typeof value !== 'string' || value.length > 256) throw invalidParameter(`Label ${key} must be a string of at most 256 characters.`);
    out[key] = value;
  }
  return out;
}

export interface ResolvedLaunch {
  plan: LaunchPlan;
  inputs: LaunchInputs;
  validations: { validationId: string; name: string }[];
}

/** Where the server came from (vmManagerType, and the connector's `kind` in its details). */
async function serverSource(core: Core, spec: InstanceSpec): Promise<{ vmManagerType: string; kind: string | null }> {
  const server = await catalog.getInTenant(core.db, spec.tenant, spec.serverId);
  if (!server) throw invalidParameter(`Server ${spec.serverId} does not exist.`);
  let kind: string | null = null;
  try {
    const details = server.details ? (JSON.parse(server.details) as { kind?: unknown }) : {};
    if (typeof details.kind === 'string') kind = details.kind;
  } catch {
    // opaque details: fall back to vmManagerType alone
  }
  return { vmManagerType: server.vm_manager_type, kind };
}

export async function resolveLaunch(
  deps: { core: Core; images: ImageStore; virsh: Virsh; virtType: 'qemu' | 'kvm' },
  spec: InstanceSpec,
  instanceId: string,
): Promise<ResolvedLaunch> {
  const vcpus = integerIn(spec.vcpus, 1, MAX_VCPUS, 'vcpus');
  const memoryMiB = integerIn(spec.memoryMiB, MIN_MEMORY_MIB, MAX_MEMORY_MIB, 'memoryMiB');
  if (!(DEVICE_MODELS as readonly string[]).includes(spec.deviceModel)) throw invalidParameter(`deviceModel must be one of ${DEVICE_MODELS.join(', ')}.`);
  const bootTimeoutMs = spec.bootTimeoutMs === undefined ? DEFAULT_BOOT_TIMEOUT_MS : integerIn(spec.bootTimeoutMs, 1000, MAX_BOOT_TIMEOUT_MS, 'bootTimeoutMs');
  const validationTimeoutMs =
    spec.validationTimeoutMs === undefined ? DEFAULT_VALIDATION_TIMEOUT_MS : integerIn(spec.validationTimeoutMs, 1000, MAX_BOOT_TIMEOUT_MS, 'validationTimeoutMs');
  if (spec.userData !== undefined && spec.userData.length > MAX_USER_DATA_BYTES) throw invalidParameter(`userData is larger than ${MAX_USER_DATA_BYTES} bytes.`);
  const sshPublicKey = spec.sshPublicKey ? checkSshKey(spec.sshPublicKey) : null;
  const validations = spec.validations ?? [];
  if (validations.length > MAX_VALIDATIONS) throw invalidParameter(`At most ${MAX_VALIDATIONS} validations per instance.`);
  const ids = new Set<string>();
  for (const v of validations) {
    if (!VALIDATION_ID.test(v.validationId)) throw invalidParameter(`validationId ${JSON.stringify(v.validationId)} must be 1–64 letters, digits or ._- .`);
    if (ids.has(v.validationId)) throw invalidParameter(`validationId ${v.validationId} appears twice.`);
    ids.add(v.validationId);
    if (typeof v.name !== 'string' || v.name.length > MAX_VALIDATION_NAME) throw invalidParameter(`Validation ${v.validationId}: name must be at most ${MAX_VALIDATION_NAME} characters.`);
    if (v.scriptType !== 'SHELL_SCRIPT' && v.scriptType !== 'POWERSHELL_SCRIPT') throw invalidParameter(`Validation ${v.validationId}: scriptType must be SHELL_SCRIPT or POWERSHELL_SCRIPT.`);
    if (!Buffer.isBuffer(v.script) || v.script.length > MAX_VALIDATION_SCRIPT_BYTES) throw invalidParameter(`Validation ${v.validationId}: the script must be at most ${MAX_VALIDATION_SCRIPT_BYTES} bytes.`);
  }
  const labels = checkLabels(spec.labels);
  const configure = spec.configureScript;
  if (configure !== undefined) {
    if (configure.scriptType !== 'SHELL_SCRIPT' && configure.scriptType !== 'POWERSHELL_SCRIPT') throw invalidParameter('configureScript: scriptType must be SHELL_SCRIPT or POWERSHELL_SCRIPT.');
    if (!Buffer.isBuffer(configure.script) || configure.script.length > MAX_CONFIGURE_SCRIPT_BYTES) throw invalidParameter(`configureScript must be at most ${MAX_CONFIGURE_SCRIPT_BYTES} bytes.`);
  }

  const image = await deps.images.findImage(spec.amiId);
  if (!image || image.tenant.accountId !== spec.tenant.accountId || image.tenant.region !== spec.tenant.region) {
    throw invalidParameter(`Image ${spec.amiId} does not exist.`);
  }
  const source = await serverSource(deps.core, spec);
  const job = await jobs.get(deps.core.db, image.replicationJobId);
  if (job && job.server_id !== spec.serverId) throw invalidParameter(`Image ${spec.amiId} is an image of server ${job.server_id}, not of ${spec.serverId}.`);
  const bus = resolveDiskBus(spec.deviceModel as DeviceModel, source);
  let layout;
  try {
    layout = deviceLayout(bus, image.disks.length);
  } catch (error) {
    throw invalidParameter((error as Error).message);
  }
  const network = await resolveNetwork(deps.virsh, spec.network);
  // A network the launch names must be up now (a clear error for the caller). Ferry's own default network is
  // created or started if need be while the instance's files are made (launchSteps.ts): asking libvirt here too
  // would put a virsh process between the request and the launch.
  if (network.name !== DEFAULT_NETWORK) await ensureNetworkReady(deps.virsh, network);
  return {
    plan: {
      vcpus,
      memoryMiB,
      bus,
      layout,
      virtType: deps.virtType,
      network,
      diskSizes: image.disks.map((d) => d.sizeBytes),
      hostname: instanceId,
      bootTimeoutMs,
      validationTimeoutMs,
      labels,
      seed: true,
    },
    inputs: {
      userData: spec.userData ? spec.userData.toString('base64') : null,
      sshPublicKey,
      validations: validations.map((v) => ({ validationId: v.validationId, script: v.script.toString('base64'), scriptType: v.scriptType })),
      configureScript: configure ? { script: configure.script.toString('base64'), scriptType: configure.scriptType } : null,
    },
    validations: validations.map((v) => ({ validationId: v.validationId, name: v.name })),
  };
}
