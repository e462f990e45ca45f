/**
 * Runs queued app-level (SSM) validations (appValidationQueue.ts) through the launch subsystem's guest agent
 * (`InstanceService.runCommand`, i.e. QEMU guest-exec), writes each one's output to its `outputS3BucketName` (else the
 * account's `sms-app-…` bucket) and its SUCCEEDED/FAILED with a message to the output row that
 * GetAppValidationOutput reads. Driven by events — `app.validation` (queued) and `instance.state` (a boot-time
 * validation reported) — one app at a time; never on a timer.
 *
 * Which instance: `ssmValidationParameters.instanceId` when given (it must be an instance of the app's current
 * launch: instance ids change with every launch), else the app's first instance in launch order. A guest without
 * an agent ends FAILED with the subsystem's message saying so.
 *
 * Crash safety: a row is marked IN_PROGRESS with a fresh `reported_at` before its command runs, and its result is
 * written only while the row still carries that stamp — a validation queued again meanwhile (PutAppValidation-
 * Configuration), notified by a caller, or deleted keeps what happened to it since. After a restart, rows left
 * PENDING or IN_PROGRESS are run (again): a command cut off by the restart has no result to keep.
 */
import type { Logger } from 'pino';
import { coerceError } from '../../lib/errors.ts';
import { KeyedChains } from '../../lib/concurrency.ts';
import { Repeating } from '../../lib/repeating.ts';
import { s3Uri } from '../../domain/s3Location.ts';
import { ssmInvocation, ssmOutcome, ssmOutputDocument, type CommandResult } from '../../domain/appSsmValidation.ts';
import type { AppPorts } from '../../apps/ports.ts';
import type { Core } from '../context.ts';
import { type Tenant, tenantOf } from '../../domain/tenant.ts';
import type { FerryEvent } from '../events.ts';
import { findApp, loadLaunchRows, parseJson, type AppRow } from './appRecords.ts';
import { LAUNCHED_STATUSES, SSM_SOURCE } from './appValidationQueue.ts';
import { artifactBucket } from './templates.ts';
import type { StoredAppValidation } from './storedConfig.ts';
import { changeOutputIfCurrent, selectAppLevelValidations, selectAppsWithOutputs, selectOutputsIn } from '../../store/apps/validationOutputs.ts';

const QUEUED = ['PENDING', 'IN_PROGRESS'];
/** Validation scripts are small programs; the whole script travels in one guest-agent request. */
const MAX_SCRIPT_BYTES = 64 * 1024;

interface Outcome {
  status: 'SUCCEEDED' | 'FAILED';
  message: string;
  output?: { bucket: string; key: string };
}

const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export class AppValidationRunner {
  readonly #core: Core;
  readonly #ports: AppPorts;
  readonly #log: Logger;
  readonly #chains = new KeyedChains();
  readonly #stopping = new AbortController();
  #unsubscribe: (() => void) | undefined;
  #stopped = false;
  #follow: Repeating | undefined;

  constructor(core: Core, ports: AppPorts) {
    this.#core = core;
    this.#ports = ports;
    this.#log = core.log.child({ component: 'app-validation' });
  }

  /**
   * Follows validation and instance events and runs what is queued. With `followOtherNodesMs` (the launch node of
   * a cluster) it also looks that often for validations other nodes queued (PutAppValidationConfiguration on a
   * launched app, sent there).
   */
  async start(options: { followOtherNodesMs?: number } = {}): Promise<void> {
    this.#unsubscribe = this.#core.events.subscribe((event) => this.#onEvent(event));
    await this.#kickQueued();
    if (options.followOtherNodesMs) {
      this.#follow = new Repeating(() => this.#kickQueued(), options.followOtherNodesMs, (error) =>
        this.#log.warn({ err: coerceError(error) }, 'could not look for validations other nodes queued; looking again shortly'),
      );
      this.#follow.start();
    }
  }

  /** Runs each app's queued validations, except where this process is already at work on the app. */
  async #kickQueued(): Promise<void> {
    const queued = await selectAppsWithOutputs(this.#core.db, SSM_SOURCE, QUEUED);
    for (const row of queued) if (!this.#chains.busy(row.app_id)) this.kick(tenantOf(row), row.app_id);
  }

  /** Stops waiting for running commands (their rows stay IN_PROGRESS and run again after the next start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#follow?.stop();
    this.#unsubscribe?.();
    this.#stopping.abort();
    await this.idle();
  }

  async idle(): Promise<void> {
    await this.#chains.idle();
  }

  #onEvent(event: FerryEvent): void {
    if (this.#stopped) return;
    if (event.type === 'app.validation') this.kick(event.tenant, event.appId);
    else if (event.type === 'instance.state' && event.appId) this.kick(event.tenant, event.appId);
  }

  /** Runs what the app has queued, after whatever this app's chain is doing. */
  kick(tenant: Tenant, appId: string): void {
    this.#chains.enqueue(
      appId,
      () => this.#runQueued(tenant, appId),
      (error) => {
        if (!this.#stopped) this.#log.error({ appId, err: coerceError(error) }, 'app validation step failed; it is retried on the next change');
      },
    );
  }

  async #queued(appId: string) {
    return selectOutputsIn(this.#core.db, appId, SSM_SOURCE, QUEUED);
  }

  async #runQueued(tenant: Tenant, appId: string): Promise<void> {
    if (this.#stopped) return;
    const queued = await this.#queued(appId);
    if (queued.length === 0) return;
    const app = await findApp(this.#core.db, tenant, appId);
    if (!app) return;
    const launched = app.launch_phase === 'LAUNCH' && LAUNCHED_STATUSES.includes(app.launch_status);
    if (launched && !(await this.#bootValidationsSettled(tenant, app))) return; // an instance.state event brings us back
    const configs = new Map((await selectAppLevelValidations(this.#core.db, appId)).map((v) => [v.validation_id, parseJson<StoredAppValidation>(v.configuration)!]));
    for (const row of queued) {
      if (this.#stopped) return;
      const config = configs.get(row.validation_id);
      if (!config) continue; // its configuration was replaced or deleted: so was the row
      const token = Math.max(this.#core.clock.now(), row.reported_at + 1);
      const claimed = await changeOutputIfCurrent(
        this.#core.db,
        row.validation_id,
        { statuses: QUEUED, reportedAt: row.reported_at },
        { status: 'IN_PROGRESS', status_message: null, output_bucket: null, output_key: null, reported_at: token },
      );
      if (!claimed) continue;
      const outcome = launched
        ? await this.#run(tenant, app, row.validation_id, config)
        : { status: 'FAILED' as const, message: `Not run: app ${appId} is ${app.launch_status}, not launched.` };
      await changeOutputIfCurrent(
        this.#core.db,
        row.validation_id,
        { statuses: ['IN_PROGRESS'], reportedAt: token },
        {
          status: outcome.status,
          status_message: outcome.message.slice(0, 2500),
          output_bucket: outcome.output?.bucket ?? null,
          output_key: outcome.output?.key ?? null,
          reported_at: Math.max(this.#core.clock.now(), token),
        },
      );
      this.#log.info({ appId, validationId: row.validation_id, status: outcome.status }, 'app validation finished');
    }
  }

  /** Every running instance of the current launch has reported its USERDATA validations (or given up on them). */
  async #bootValidationsSettled(tenant: Tenant, app: AppRow): Promise<boolean> {
    const instances = this.#ports.instances;
    if (!instances) return true;
    for (const row of await loadLaunchRows(this.#core.db, app)) {
      if (row.instance_id === null) continue;
      const instance = await instances.get(tenant, row.instance_id);
      if (instance?.state === 'running' && instance.validations.some((v) => v.status === 'PENDING')) return false;
    }
    return true;
  }

  async #run(tenant: Tenant, app: AppRow, validationId: string, config: StoredAppValidation): Promise<Outcome> {
    const instances = this.#ports.instances;
    if (!instances) return { status: 'FAILED', message: 'Not run: this Ferry has no launch subsystem to run it with.' };
    const rows = (await loadLaunchRows(this.#core.db, app)).filter((r) => r.instance_id !== null);
    const ids = rows.map((r) => r.instance_id!);
    let instanceId: string;
    if (config.instanceId !== undefined) {
      if (!ids.includes(config.instanceId)) {
        return {
          status: 'FAILED',
          message: `Not run: ${config.instanceId} is not an instance of app ${app.app_id}'s current launch (its instances: ${ids.join(', ') || 'none'}); set ssmValidationParameters.instanceId to one of them.`,
        };
      }
      instanceId = config.instanceId;
    } else {
      const first = [...rows].sort((a, b) => a.wave - b.wave || a.seq - b.seq)[0];
      if (!first) return { status: 'FAILED', message: `Not run: app ${app.app_id}'s current launch has no instance.` };
      instanceId = first.instance_id!;
    }
    let script: Buffer | undefined;
    if (config.source) {
      try {
        const object = await this.#ports.artifacts?.getObject(app.account_id, config.source.bucket, config.source.key, { maxBytes: MAX_SCRIPT_BYTES });
        if (!object) return { status: 'FAILED', message: `Not run: the validation script ${s3Uri(config.source)} does not exist in this account's buckets.` };
        script = object.body;
      } catch (error) {
        return { status: 'FAILED', message: `Not run: the validation script ${s3Uri(config.source)} cannot be read: ${coerceError(error).message}` };
      }
    }
    const invocation = ssmInvocation(config, script);
    const described = config.command !== undefined ? config.command : `the script ${s3Uri(config.source!)}`;
    let result: CommandResult | undefined;
    let error: string | undefined;
    try {
      result = await instances.runCommand(tenant, instanceId, { ...invocation, signal: this.#stopping.signal });
    } catch (thrown) {
      if (this.#stopping.signal.aborted) throw new Error('Ferry is stopping; the validation runs again at the next start');
      error = coerceError(thrown).message;
    }
    const now = this.#core.clock.now();
    const outcome: Outcome = result ? ssmOutcome(result) : { status: 'FAILED', message: `Not run on ${instanceId}: ${error}` };
    const output = { bucket: config.outputS3BucketName ?? artifactBucket(tenant), key: `${app.app_id}/validations/${validationId}/${stamp(now)}-${instanceId}.txt` };
    const document = ssmOutputDocument({ appId: app.app_id, validationId, instanceId, at: new Date(now).toISOString(), invocation: described, ...(result ? { result } : { error: error! }) });
    try {
      if (!this.#ports.artifacts) throw new Error('this Ferry has no artifact store');
      await this.#ports.artifacts.ensureBucket(app.account_id, output.bucket, app.region);
      await this.#ports.artifacts.putObject(app.account_id, output.bucket, output.key, Buffer.from(document), { contentType: 'text/plain; charset=utf-8' });
      outcome.output = output;
    } catch (thrown) {
      outcome.message = `${outcome.message} (its output could not be written to ${s3Uri(output)}: ${coerceError(thrown).message})`;
    }
    return outcome;
  }
}
