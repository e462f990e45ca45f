/**
 * The two interfaces the App operations drive but do not implement: the launch subsystem (instances on libvirt,
 * src/launch/) and the artifact store (S3-style buckets, src/artifacts/). Declared here as the parts Ferry's app
 * code uses, exactly as those subsystems expose them, so theirs plug in structurally. When one is absent (not wired,
 * or libvirt missing), the operations that need it answer an error saying so — never a fake success.
 */
import type { ArtifactObject, ArtifactStore as FullArtifactStore } from '../artifacts/artifactStore.ts';
import type { Tenant } from '../core/context.ts';

export interface InstanceSpec {
  tenant: Tenant;
  appId: string | null;
  serverId: string;
  amiId: string;
  vcpus: number;
  memoryMiB: number;
  deviceModel: 'auto' | 'virtio' | 'sata' | 'scsi' | 'ide';
  network?: { vpc?: string; subnet?: string; securityGroup?: string };
  userData?: Buffer;
  sshPublicKey?: string;
  validations?: { validationId: string; name: string; script: Buffer; scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT' }[];
  bootTimeoutMs?: number;
  labels?: Record<string, string>;
}

export type InstanceState = 'pending' | 'starting' | 'booting' | 'running' | 'failed' | 'terminating' | 'terminated';
export type HydrationState = 'none' | 'hydrating' | 'hydrated' | 'failed';

export interface InstanceValidationResult {
  validationId: string;
  name: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  message: string | null;
  at: number | null;
}

export interface Instance {
  instanceId: string;
  tenant: Tenant;
  appId: string | null;
  serverId: string;
  amiId: string;
  domainName: string;
  state: InstanceState;
  stateMessage: string | null;
  hydration: HydrationState;
  launchedAt: number;
  bootedAt: number | null;
  hydratedAt: number | null;
  terminatedAt: number | null;
  validations: InstanceValidationResult[];
  labels: Record<string, string>;
}

/** Instance state changes arrive as core.events `{ type: 'instance.state', … }` (core/events.ts). */
export interface InstanceService {
  /** Persists the instance ('pending') and boots it in the background. */
  launch(spec: InstanceSpec): Promise<Instance>;
  /** Idempotent; stops and removes the instance in the background. */
  terminate(tenant: Tenant, instanceId: string): Promise<void>;
  get(tenant: Tenant, instanceId: string): Promise<Instance | undefined>;
  list(tenant: Tenant, filter?: { appId?: string }): Promise<Instance[]>;
  consoleOutput(tenant: Tenant, instanceId: string, maxBytes?: number): Promise<string>;
  runCommand(
    tenant: Tenant,
    instanceId: string,
    command: { script: string; interpreter: 'sh' | 'powershell'; timeoutSeconds: number },
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  availability(): Promise<{ available: true } | { available: false; reason: string }>;
  validateNetwork(network: InstanceSpec['network']): Promise<void>;
}

/** What the App layer uses of the artifact store (src/artifacts/artifactStore.ts): its small-object calls. */
export type ArtifactStore = Pick<FullArtifactStore, 'ensureBucket' | 'putObject' | 'getObject' | 'headObject' | 'deleteObject' | 'listObjects'>;
export type { ArtifactObject };

/** What the app code has of the two subsystems; either may be missing. */
export interface AppPorts {
  instances?: InstanceService;
  artifacts?: ArtifactStore;
}
