/**
 * The launch subsystem as a node of a cluster that does not launch sees it (domain/launchPlacement.ts). It answers
 * what the store knows (an instance, a tenant's instances, who reads an image) and leaves the rest to the launch
 * node: the App operations here only change rows, which the launch node's coordinator follows (launchCoordinator.ts
 * `followOtherNodes`); what needs the instance's host — its console, a command in its guest, terminating one
 * instance directly — is refused with the node to ask. In a cluster that names no launch node, nothing launches:
 * every launch is refused with how to name one.
 */
import type { Core } from '../core/context.ts';
import type { Tenant } from '../domain/tenant.ts';
import { NO_LAUNCH_NODE } from '../domain/launchPlacement.ts';
import { invalidParameter, notPermitted } from '../lib/errors.ts';
import type { GuestCommand, Instance, InstanceService, InstanceSpec } from '../apps/instances.ts';
import { InstanceRecords } from './instanceRecords.ts';

export class LaunchElsewhere implements InstanceService {
  /** The node that launches, or undefined when the cluster names none. */
  readonly launchNode: string | undefined;
  readonly launchesNowhere: string | undefined;
  readonly #records: InstanceRecords;
  readonly #nodeId: string;

  constructor(core: Core, nodeId: string, launchNode: string | undefined) {
    this.#records = new InstanceRecords(core);
    this.#nodeId = nodeId;
    this.launchNode = launchNode;
    this.launchesNowhere = launchNode === undefined ? NO_LAUNCH_NODE : undefined;
  }

  async availability(): Promise<{ available: true } | { available: false; reason: string }> {
    // The launch node checks libvirt when it launches, and a failure shows on the app, as it would there.
    return this.launchesNowhere === undefined ? { available: true } : { available: false, reason: this.launchesNowhere };
  }

  async validateNetwork(): Promise<void> {
    // Networks are the launch host's: checked there, when the launch starts.
    if (this.launchesNowhere !== undefined) throw notPermitted(`Launching is unavailable on this Ferry: ${this.launchesNowhere}.`);
  }

  async launch(spec: InstanceSpec): Promise<Instance> {
    throw this.#onLaunchNode(`Launching server ${spec.serverId}`);
  }

  async terminate(tenant: Tenant, instanceId: string): Promise<void> {
    await this.#known(tenant, instanceId);
    throw this.#onLaunchNode(`Terminating instance ${instanceId}`);
  }

  get(tenant: Tenant, instanceId: string): Promise<Instance | undefined> {
    return this.#records.get(tenant, instanceId);
  }

  list(tenant: Tenant, filter: { appId?: string } = {}): Promise<Instance[]> {
    return this.#records.list(tenant, filter);
  }

  async consoleOutput(tenant: Tenant, instanceId: string): Promise<string> {
    await this.#known(tenant, instanceId);
    throw this.#onLaunchNode(`The console of instance ${instanceId}`);
  }

  async runCommand(tenant: Tenant, instanceId: string, _command: GuestCommand): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    await this.#known(tenant, instanceId);
    throw this.#onLaunchNode(`A command in instance ${instanceId}`);
  }

  imageReaders(amiId: string): Promise<string[]> {
    return this.#records.imageReaders(amiId);
  }

  /** Another account's instance is as unknown here as on the launch node. */
  async #known(tenant: Tenant, instanceId: string): Promise<void> {
    if (!(await this.#records.get(tenant, instanceId))) throw invalidParameter(`Instance ${instanceId} does not exist.`);
  }

  #onLaunchNode(what: string): Error {
    if (this.launchNode === undefined) return notPermitted(`Launching is unavailable on this Ferry: ${NO_LAUNCH_NODE}.`);
    return notPermitted(`${what} is done by node ${this.launchNode}, the node that launches instances in this cluster (FERRY_LAUNCH_NODE); this is node ${this.#nodeId}. Send the request to ${this.launchNode}.`);
  }
}
