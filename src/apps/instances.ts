/**
 * The launch subsystem's contract: what the App code (core/apps) calls to run, watch and end instances. Declared
 * here, below both sides, so that core/ drives instances through it without importing launch/, and launch/
 * (LibvirtInstanceService, above core) implements it. Instance state changes arrive as core.events
 * `{ type: 'instance.state', … }` (core/events.ts).
 */
import type { Tenant } from '../domain/tenant.ts';
import type { HydrationState, InstanceState } from '../domain/instance.ts';
import type { DeviceModel } from '../domain/instanceDevices.ts';

export type { HydrationState, InstanceState };

export interface InstanceSpec {
  tenant: Tenant;
  appId: string | null;
  serverId: string;
  /** Every disk of the image; disk 0 boots. */
  amiId: string;
  vcpus: number;
  memoryMiB: number;
  /** 'auto' follows the source hypervisor (from the server's vmManagerType / inventory details). */
  deviceModel: DeviceModel;
  network?: { vpc?: string; subnet?: string; securityGroup?: string };
  userData?: Buffer;
  sshPublicKey?: string;
  validations?: { validationId: string; name: string; script: Buffer; scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT' }[];
  /** Run in the guest after the user data, through the seed (seedUserData.ts): the launch configuration's configureScript. */
  configureScript?: { script: Buffer; scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT' };
  bootTimeoutMs?: number;
  /** How long after the boot validation results may take before the missing ones are FAILED (default 30 min). */
  validationTimeoutMs?: number;
  /** Free-form labels shown in the domain's metadata (e.g. logicalId, launch group). */
  labels?: Record<string, string>;
}

/** A USERDATA validation's result as the guest reported it on its console (PENDING until it does). */
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
  /** Why hydration failed, when it did. */
  hydrationMessage: string | null;
}

export interface InstanceService {
  /** Persists the instance (state 'pending') and returns at once; boots it in the background. */
  launch(spec: InstanceSpec): Promise<Instance>;
  /** Idempotent; returns at once, terminates in the background (state 'terminating' → 'terminated'). */
  terminate(tenant: Tenant, instanceId: string): Promise<void>;
  get(tenant: Tenant, instanceId: string): Promise<Instance | undefined>;
  list(tenant: Tenant, filter?: { appId?: string }): Promise<Instance[]>;
  /** The serial console output, newest `maxBytes`. */
  consoleOutput(tenant: Tenant, instanceId: string, maxBytes?: number): Promise<string>;
  /** Runs a command in the guest through the QEMU guest agent; throws a clear error when the guest has none. */
  runCommand(
    tenant: Tenant,
    instanceId: string,
    command: GuestCommand,
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Is launching possible here, and if not, the one-line reason. */
  availability(): Promise<{ available: true } | { available: false; reason: string }>;
  /**
   * Set when nothing can launch at all, whatever libvirt says (a cluster that names no launch node): why. Read
   * without I/O where a launch is only planned (autoLaunch, in a transaction).
   */
  readonly launchesNowhere?: string | undefined;
  validateNetwork(network: InstanceSpec['network']): Promise<void>;
}

export interface GuestCommand {
  script: string;
  interpreter: 'sh' | 'powershell';
  timeoutSeconds: number;
  /** The process's stdin (guest-exec `input-data`), e.g. a script the command writes to a file. */
  input?: Buffer;
  /** Stops waiting for the guest process (which may go on running). */
  signal?: AbortSignal;
  /**
   * For how long after its boot a guest's agent may still be starting: until then, a command waits for the agent to
   * answer. A guest starts its agent a few seconds after its console says it is up, and validations run right then;
   * an operator's own command does not wait (0, the default), and neither does anything once that time has passed,
   * so a guest without an agent is reported at once.
   */
  agentStartupSeconds?: number;
}

export interface GuestCommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}
