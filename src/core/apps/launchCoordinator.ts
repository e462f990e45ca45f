/**
 * Drives launches and terminations through the launch subsystem (src/apps/ports.ts): when an app's launch status says
 * there is work, or one of its instances changes state, it starts the next wave, skips what can no longer launch, or
 * asks for terminations — one app at a time, in order, never on a timer. Everything it does is first written to the
 * app's launch rows, so a restart resumes where it stopped:
 *   - a row is claimed (`planned` → `launching`) in a transaction before its instance is asked for, and the instance
 *     carries the row's token as a label; a `launching` row without an instance after a restart is matched to the
 *     instance carrying its token, or launched then (the instance never came to exist) — so none is launched twice;
 *   - instance states missed while Ferry was down are read back from the subsystem at start.
 */
import type { Logger } from 'pino';
import { coerceError } from '../../lib/errors.ts';
import { KeyedChains } from '../../lib/concurrency.ts';
import { Repeating } from '../../lib/repeating.ts';
import { instanceSize } from '../../domain/instanceTypes.ts';
import { launchStep } from '../../domain/appLaunchPlan.ts';
import { s3Uri } from '../../domain/s3Location.ts';
import type { AppPorts, Instance, InstanceService, InstanceSpec } from '../../apps/ports.ts';
import { inTransaction, type Core } from '../context.ts';
import { type Tenant, tenantOf } from '../../domain/tenant.ts';
import type { FerryEvent } from '../events.ts';
import { appByIdForChange, findApp, loadLaunchRows, parseJson, type AppRow, type InstanceRow } from './appRecords.ts';
import { findKeyPair } from './keyPairs.ts';
import { recordInstanceState } from './instanceRows.ts';
import { refreshApp, refreshOptionsFor, toPlanned, type RefreshOptions } from './refreshApps.ts';
import type { StoredLaunchConfiguration, StoredServerValidation } from './storedConfig.ts';
import { selectAppsInLaunchPhases, selectMember, selectServerValidations, updateLaunchRowIf } from '../../store/apps/launchQueries.ts';

/** Labels Ferry puts on every instance it launches for an app. */
export const LABELS = { app: 'ferry.app-id', token: 'ferry.launch-token', stack: 'ferry.stack-name', logicalId: 'ferry.logical-id' } as const;

const ACTIVE_STATUSES = new Set(['LAUNCH_PENDING', 'LAUNCH_IN_PROGRESS', 'TERMINATE_IN_PROGRESS']);
const TERMINATE_REQUESTABLE = new Set(['terminate', 'pending', 'starting', 'booting', 'running']);
const IN_FLIGHT = new Set(['pending', 'starting', 'booting', 'terminating']);

export class LaunchCoordinator {
  readonly #core: Core;
  readonly #ports: AppPorts;
  readonly #log: Logger;
  readonly #chains = new KeyedChains();
  #unsubscribe: (() => void) | undefined;
  #stopped = false;
  #follow: Repeating | undefined;

  constructor(core: Core, ports: AppPorts) {
    this.#core = core;
    this.#ports = ports;
    this.#log = core.log.child({ component: 'apps' });
  }

  get refreshOptions(): RefreshOptions {
    return refreshOptionsFor(this.#ports.instances);
  }

  /**
   * Follows app and instance events, and resumes every launch or termination a previous run left unfinished. With
   * `followOtherNodesMs` (the launch node of a cluster), it also looks that often for apps whose launch status other
   * nodes changed (LaunchApp, TerminateApp, an autoLaunch planned there): their events stay in their own process.
   */
  async start(options: { followOtherNodesMs?: number } = {}): Promise<void> {
    this.#unsubscribe = this.#core.events.subscribe((event) => this.#onEvent(event));
    for (const app of await this.#activeApps()) {
      const tenant = tenantOf(app);
      this.#enqueue(app.app_id, async () => {
        await this.#readBackStates(tenant, app.app_id);
        await this.#advance(tenant, app.app_id);
      });
    }
    if (options.followOtherNodesMs) {
      this.#follow = new Repeating(() => this.#followOtherNodes(), options.followOtherNodesMs, (error) =>
        this.#log.warn({ err: coerceError(error) }, 'could not look for launches other nodes asked for; looking again shortly'),
      );
      this.#follow.start();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#follow?.stop();
    this.#unsubscribe?.();
    await this.idle();
  }

  async #activeApps(): Promise<Awaited<ReturnType<typeof selectAppsInLaunchPhases>>> {
    const apps = await selectAppsInLaunchPhases(this.#core.db, ['LAUNCH', 'TERMINATE']);
    return apps.filter((app) => ACTIVE_STATUSES.has(app.launch_status));
  }

  /** One look for work other nodes asked for; an app this process is already working on is left to its chain. */
  async #followOtherNodes(): Promise<void> {
    if (this.#stopped || !this.#ports.instances) return;
    for (const app of await this.#activeApps()) {
      if (!this.#chains.busy(app.app_id)) this.#enqueue(app.app_id, () => this.#advance(tenantOf(app), app.app_id));
    }
  }

  /** Resolves once no app has work queued (tests, shutdown). */
  async idle(): Promise<void> {
    await this.#chains.idle();
  }

  #onEvent(event: FerryEvent): void {
    if (this.#stopped || !this.#ports.instances) return;
    if (event.type === 'app.state' && ACTIVE_STATUSES.has(event.launchStatus)) {
      this.#enqueue(event.appId, () => this.#advance(event.tenant, event.appId));
    } else if (event.type === 'instance.state' && event.appId) {
      const appId = event.appId;
      this.#enqueue(appId, async () => {
        await this.#record(event.tenant, appId, event);
        await this.#advance(event.tenant, appId);
      });
    }
  }

  /** One chain of work per app: its steps never overlap, so no row is claimed twice by this process. */
  #enqueue(appId: string, work: () => Promise<void>): void {
    this.#chains.enqueue(appId, work, (error) => this.#log.error({ appId, err: coerceError(error) }, 'app launch step failed; it is retried on the next change'));
  }

  async #record(tenant: Tenant, appId: string, change: { instanceId: string; state: string; message: string | null }): Promise<void> {
    await inTransaction(this.#core, async (tx, emit) => {
      const app = await appByIdForChange(tx, this.#core, appId);
      if (!(await recordInstanceState(tx, { tenant, ...change }, this.#core.clock.now())) || !app) return;
      await refreshApp(tx, app, this.#core.clock.now(), emit, this.refreshOptions);
    });
  }


  /** Sets rows to what the subsystem says now (states missed while Ferry was down). */
  async #readBackStates(tenant: Tenant, appId: string): Promise<void> {
    const instances = this.#ports.instances;
    const app = await findApp(this.#core.db, tenant, appId);
    if (!instances || !app) return;
    for (const row of await loadLaunchRows(this.#core.db, app)) {
      if (row.instance_id === null || !IN_FLIGHT.has(row.state)) continue;
      const instance = await instances.get(tenant, row.instance_id);
      if (!instance) await this.#record(tenant, appId, { instanceId: row.instance_id, state: 'terminated', message: 'The instance no longer exists.' });
      else await this.#record(tenant, appId, { instanceId: row.instance_id, state: instance.state, message: instance.stateMessage });
    }
  }

  async #advance(tenant: Tenant, appId: string): Promise<void> {
    const instances = this.#ports.instances;
    // Each pass acts on what the rows say; it repeats while a pass changed something (a wave may finish at once).
    for (let pass = 0; instances && !this.#stopped && pass < 100; pass++) {
      const app = await findApp(this.#core.db, tenant, appId);
      if (!app || !ACTIVE_STATUSES.has(app.launch_status)) return;
      const rows = await loadLaunchRows(this.#core.db, app);
      if (await this.#adoptOrphans(instances, app, rows)) continue;
      const progressed = app.launch_phase === 'LAUNCH' ? await this.#launchNext(instances, app, rows) : await this.#terminateRest(instances, app, rows);
      if (!progressed) return;
    }
  }

  /**
   * `launching` rows without an instance are left by a crash between claiming a row and recording its instance: the
   * instance carrying the row's token is the one launched; without one, nothing was launched.
   */
  async #adoptOrphans(instances: InstanceService, app: AppRow, rows: readonly InstanceRow[]): Promise<boolean> {
    const orphans = rows.filter((r) => r.state === 'launching' && r.instance_id === null);
    if (orphans.length === 0) return false;
    const tenant = tenantOf(app);
    const launched = await instances.list(tenant, { appId: app.app_id });
    for (const row of orphans) {
      const found = launched.find((i) => i.labels[LABELS.token] === row.launch_token);
      await this.#write(app, row, found
        ? { instance_id: found.instanceId, state: found.state, message: found.stateMessage }
        : { state: app.launch_phase === 'LAUNCH' ? 'planned' : 'skipped', message: null });
    }
    return true;
  }

  async #launchNext(instances: InstanceService, app: AppRow, rows: readonly InstanceRow[]): Promise<boolean> {
    const step = launchStep(rows.map(toPlanned));
    if (step.skip.length > 0) {
      for (const row of rows.filter((r) => step.skip.includes(r.server_id))) {
        await this.#write(app, row, { state: 'skipped', message: 'Not launched: an instance of an earlier launch group failed.' });
      }
      return true;
    }
    const due = rows.filter((r) => step.launch.includes(r.server_id));
    if (due.length > 0) {
      // Checked once per wave, before anything is claimed: a launch accepted while libvirt answered (or autoLaunch,
      // decided inside a transaction) fails with the reason when it has gone since.
      const availability = await instances.availability().catch((error: unknown) => ({ available: false as const, reason: coerceError(error).message }));
      if (!availability.available) {
        for (const row of due) await this.#write(app, row, { state: 'failed', message: `Not launched: launching is unavailable on this Ferry: ${availability.reason}.` }, 'planned');
        return true;
      }
    }
    // The instances of one group are independent: resolving each one's launch (image export, overlay, seed) runs
    // side by side, so a group of N is not N times one launch. Group N+1 still waits for launchStep.
    const launched = await Promise.all(due.map((row) => this.#launchOne(instances, app, row)));
    return launched.includes(true);
  }

  /** Claims one planned row and launches its instance; false when another pass had claimed it already. */
  async #launchOne(instances: InstanceService, app: AppRow, row: InstanceRow): Promise<boolean> {
    const claimed = await this.#write(app, row, { state: 'launching', requested_at: this.#core.clock.now() }, 'planned');
    if (!claimed) return false;
    let instance: Instance;
    try {
      instance = await instances.launch(await this.#spec(app, row));
    } catch (error) {
      await this.#write(app, row, { state: 'failed', message: `The instance could not be launched: ${coerceError(error).message}` });
      return true;
    }
    await this.#write(app, row, { instance_id: instance.instanceId, state: instance.state, message: instance.stateMessage });
    // A state change published before the instance id was recorded found no row: read it back once.
    const now = await instances.get(tenantOf(app), instance.instanceId);
    if (now && now.state !== instance.state) await this.#record(tenantOf(app), app.app_id, { instanceId: now.instanceId, state: now.state, message: now.stateMessage });
    return true;
  }

  async #terminateRest(instances: InstanceService, app: AppRow, rows: readonly InstanceRow[]): Promise<boolean> {
    const tenant = tenantOf(app);
    let progressed = false;
    for (const row of rows) {
      if (row.instance_id === null || !TERMINATE_REQUESTABLE.has(row.state)) continue;
      progressed = true;
      try {
        await instances.terminate(tenant, row.instance_id);
      } catch (error) {
        await this.#write(app, row, { state: 'terminate_failed', message: `Termination failed: ${coerceError(error).message}` });
        continue;
      }
      await this.#write(app, row, { state: 'terminating', message: null });
      const after = await instances.get(tenant, row.instance_id);
      if (!after || after.state === 'terminated') await this.#record(tenant, app.app_id, { instanceId: row.instance_id, state: 'terminated', message: null });
    }
    return progressed;
  }

  /**
   * Updates one row (only if still in `onlyIf`, when given) and the app's statuses, in one transaction. The app is
   * locked first (appByIdForChange): the instances of a wave are launched side by side, and two writes that each
   * refreshed the app from rows read before the other's commit left it "1 of 2 instances running" with both running.
   */
  async #write(
    app: AppRow,
    row: InstanceRow,
    patch: { state: string; message?: string | null; instance_id?: string; requested_at?: number },
    onlyIf?: string,
  ): Promise<boolean> {
    return inTransaction(this.#core, async (tx, emit) => {
      const current = await appByIdForChange(tx, this.#core, app.app_id);
      if (!(await updateLaunchRowIf(tx, row.seq, { ...patch, updated_at: this.#core.clock.now() }, onlyIf))) return false;
      if (current) await refreshApp(tx, current, this.#core.clock.now(), emit, this.refreshOptions);
      return true;
    });
  }

  /** The launch subsystem's InstanceSpec for one server: size, network, user data, key, USERDATA validations. */
  async #spec(app: AppRow, row: InstanceRow): Promise<InstanceSpec> {
    const tenant = tenantOf(app);
    const db = this.#core.db;
    const member = await selectMember(db, app.app_id, row.server_id);
    const config = parseJson<StoredLaunchConfiguration>(member?.launch_configuration ?? null);
    const size = config?.instanceType ? instanceSize(config.instanceType) : undefined;
    if (!config || !size) throw new Error(`server ${row.server_id} has no launch configuration with a known instance type.`);
    const fetch = async (location: { bucket: string; key: string }, what: string): Promise<Buffer> => {
      if (!this.#ports.artifacts) throw new Error(`its ${what} (${s3Uri(location)}) needs the artifact store, which this Ferry runs without.`);
      const object = await this.#ports.artifacts.getObject(app.account_id, location.bucket, location.key);
      if (!object) throw new Error(`its ${what} ${s3Uri(location)} does not exist.`);
      return object.body;
    };
    const spec: InstanceSpec = {
      tenant,
      appId: app.app_id,
      serverId: row.server_id,
      amiId: row.ami_id,
      vcpus: size.vcpus,
      memoryMiB: size.memoryMiB,
      deviceModel: 'auto',
      network: { vpc: config.vpc, subnet: config.subnet, securityGroup: config.securityGroup },
      labels: { [LABELS.app]: app.app_id, [LABELS.token]: row.launch_token, [LABELS.stack]: app.stack_name ?? '', [LABELS.logicalId]: config.logicalId ?? '' },
    };
    if (config.userData) spec.userData = await fetch(config.userData, 'user data');
    if (config.configureScript) {
      const scriptType = config.configureScriptType === 'POWERSHELL_SCRIPT' ? 'POWERSHELL_SCRIPT' : 'SHELL_SCRIPT';
      spec.configureScript = { script: await fetch(config.configureScript, 'configure script'), scriptType };
    }
    if (config.ec2KeyName !== undefined) {
      const key = await findKeyPair(db, tenant, config.ec2KeyName);
      if (!key) throw new Error(`its key pair ${config.ec2KeyName} no longer exists.`);
      spec.sshPublicKey = key.publicKey;
    }
    const validations = await selectServerValidations(db, app.app_id, row.server_id);
    if (validations.length > 0) {
      spec.validations = [];
      for (const v of validations) {
        const stored = parseJson<StoredServerValidation>(v.configuration)!;
        spec.validations.push({ validationId: v.validation_id, name: v.name, script: await fetch(stored.source, `validation script ${v.validation_id}`), scriptType: stored.scriptType });
      }
    }
    return spec;
  }
}
