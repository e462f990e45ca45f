/**
 * A stand-in for the launch subsystem (src/apps/ports.ts InstanceService), for failure injection only: what real
 * libvirt cannot be made to do on demand — a termination that fails (the real subsystem retries until libvirt obeys)
 * and a crash at one exact instruction of the app coordinator. Every other App test runs on the real subsystem
 * (qemu:///system, test/helpers/launch.ts). Instances are records whose states the test moves (boot, fail) or that
 * move by themselves (`autoBoot`, terminations), announced as `instance.state` events like the real one's.
 */
import { randomBytes } from 'node:crypto';
import type { Instance, InstanceService, InstanceSpec, InstanceState } from '../../src/apps/ports.ts';
import { inTransaction, type Core } from '../../src/core/context.ts';
import type { Tenant } from '../../src/domain/tenant.ts';

export class FakeInstances implements InstanceService {
  core: Core | undefined;
  readonly instances = new Map<string, Instance>();
  readonly specs = new Map<string, InstanceSpec>();
  /** Every launch() call in order (a duplicate launch of one server shows here). */
  readonly launches: { serverId: string; instanceId: string; at: number }[] = [];
  availabilityAnswer: { available: true } | { available: false; reason: string } = { available: true };
  /** Networks validateNetwork accepts (vpc, subnet and security group names). */
  networks = new Set(['default', 'vpc-ferry', 'subnet-ferry', 'sg-ferry']);
  /** Instances boot to `running` by themselves, one event loop turn after launch. */
  autoBoot = false;
  /** Servers whose launch() throws. */
  readonly failLaunchOf = new Set<string>();
  /** Instances whose terminate() throws. */
  readonly failTerminateOf = new Set<string>();
  /** What each validation reports when its instance boots (default SUCCEEDED). */
  readonly validationOutcome = new Map<string, { status: 'SUCCEEDED' | 'FAILED'; message: string }>();
  /** Publish state changes inside a transaction (as a subsystem that commits its own changes would) or after. */
  publishInTransaction = false;

  attach(core: Core): this {
    this.core = core;
    return this;
  }

  async #publish(instance: Instance): Promise<void> {
    const core = this.core;
    if (!core) return;
    const event = {
      type: 'instance.state' as const,
      tenant: instance.tenant,
      instanceId: instance.instanceId,
      appId: instance.appId,
      serverId: instance.serverId,
      state: instance.state,
      hydration: instance.hydration,
      message: instance.stateMessage,
    };
    if (this.publishInTransaction) await inTransaction(core, async (_tx, emit) => emit(event));
    else core.events.publish(event);
  }

  async #move(instanceId: string, state: InstanceState, message: string | null = null): Promise<void> {
    const instance = this.instances.get(instanceId);
    if (!instance) throw new Error(`no instance ${instanceId}`);
    instance.state = state;
    instance.stateMessage = message;
    const now = Date.now();
    if (state === 'running') {
      instance.bootedAt = now;
      instance.validations = (this.specs.get(instanceId)?.validations ?? []).map((v) => {
        const outcome = this.validationOutcome.get(v.validationId) ?? { status: 'SUCCEEDED' as const, message: `${v.name} passed` };
        return { validationId: v.validationId, name: v.name, status: outcome.status, message: outcome.message, at: now };
      });
    }
    if (state === 'terminated') instance.terminatedAt = now;
    await this.#publish(instance);
  }

  async launch(spec: InstanceSpec): Promise<Instance> {
    if (this.failLaunchOf.has(spec.serverId)) throw new Error(`no room for ${spec.serverId}`);
    const instanceId = `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const instance: Instance = {
      instanceId,
      tenant: spec.tenant,
      appId: spec.appId,
      serverId: spec.serverId,
      amiId: spec.amiId,
      domainName: `ferry-${instanceId}`,
      state: 'pending',
      stateMessage: null,
      hydration: 'none',
      launchedAt: Date.now(),
      bootedAt: null,
      hydratedAt: null,
      terminatedAt: null,
      validations: (spec.validations ?? []).map((v) => ({ validationId: v.validationId, name: v.name, status: 'PENDING', message: null, at: null })),
      labels: { ...spec.labels },
      hydrationMessage: null,
    };
    this.instances.set(instanceId, instance);
    this.specs.set(instanceId, spec);
    this.launches.push({ serverId: spec.serverId, instanceId, at: Date.now() });
    if (this.autoBoot) setImmediate(() => void this.boot(instanceId).catch(() => {}));
    return structuredClone(instance);
  }

  /** The instance reached its boot marker. */
  boot(instanceId: string): Promise<void> {
    return this.#move(instanceId, 'running');
  }

  fail(instanceId: string, message: string): Promise<void> {
    return this.#move(instanceId, 'failed', message);
  }

  async terminate(_tenant: Tenant, instanceId: string): Promise<void> {
    if (this.failTerminateOf.has(instanceId)) throw new Error('the domain would not stop');
    const instance = this.instances.get(instanceId);
    if (!instance || instance.state === 'terminated' || instance.state === 'terminating') return;
    await this.#move(instanceId, 'terminating');
    setImmediate(() => void this.#move(instanceId, 'terminated').catch(() => {}));
  }

  async get(tenant: Tenant, instanceId: string): Promise<Instance | undefined> {
    const instance = this.instances.get(instanceId);
    return instance && instance.tenant.accountId === tenant.accountId && instance.tenant.region === tenant.region ? structuredClone(instance) : undefined;
  }

  async list(tenant: Tenant, filter: { appId?: string } = {}): Promise<Instance[]> {
    return [...this.instances.values()]
      .filter((i) => i.tenant.accountId === tenant.accountId && i.tenant.region === tenant.region && (filter.appId === undefined || i.appId === filter.appId))
      .map((i) => structuredClone(i));
  }

  /** Instances of an app that are not terminated. */
  live(appId: string): Instance[] {
    return [...this.instances.values()].filter((i) => i.appId === appId && i.state !== 'terminated');
  }

  async consoleOutput(): Promise<string> {
    return '';
  }

  async runCommand(): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    throw new Error('runCommand is not part of this stand-in');
  }

  async availability() {
    return this.availabilityAnswer;
  }

  async validateNetwork(network: InstanceSpec['network']): Promise<void> {
    for (const name of [network?.vpc, network?.subnet, network?.securityGroup]) {
      if (name !== undefined && !this.networks.has(name)) throw new Error(`there is no libvirt network or filter named ${JSON.stringify(name)}`);
    }
  }
}
