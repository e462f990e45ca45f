/**
 * The applications' and launched instances' metrics, registered beside the others (metrics.ts; documented in
 * docs/events.md): gauges counted in the store at scrape time (apps by replication and by launch status, instances
 * by state and, while not terminated, by hydration), counters of status changes fed by the `app.state` and
 * `instance.state` events, and how long instances took to boot and to become independent of the image store. As
 * everywhere in /metrics, labels come from fixed sets of states only — never an id.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Core } from '../core/context.ts';
import type { FerryEvent } from '../core/events.ts';
import { APP_LAUNCH_STATUSES, APP_REPLICATION_STATUSES } from '../domain/appEnums.ts';
import { HYDRATION_STATES, INSTANCE_STATES } from '../domain/instance.ts';
import { countAppsBy, countInstancesByState, countLiveInstancesByHydration, instanceTimes } from '../store/metrics/metricCounts.ts';

/** Seconds: a small guest under emulation boots in 5–30 s; a large one, or a busy host, takes minutes. */
const BOOT_BUCKETS = [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800];
const HYDRATION_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400];

export function registerAppMetrics(registry: Registry, core: Core): () => void {
  const registers = [registry];
  const byLabel = (gauge: Gauge<'status' | 'state' | 'hydration'>, label: 'status' | 'state' | 'hydration', known: readonly string[], counts: Map<string, number>) => {
    for (const value of new Set([...known, ...counts.keys()])) gauge.set({ [label]: value }, counts.get(value) ?? 0);
  };

  new Gauge({
    name: 'ferry_apps_by_replication_status',
    help: 'Applications by replicationStatus (all accounts).',
    labelNames: ['status'],
    registers,
    async collect() {
      byLabel(this, 'status', APP_REPLICATION_STATUSES, await countAppsBy(core, 'replication_status'));
    },
  });
  new Gauge({
    name: 'ferry_apps_by_launch_status',
    help: 'Applications by launchStatus (all accounts).',
    labelNames: ['status'],
    registers,
    async collect() {
      byLabel(this, 'status', APP_LAUNCH_STATUSES, await countAppsBy(core, 'launch_status'));
    },
  });
  new Gauge({
    name: 'ferry_instances',
    help: 'Launched instances by state (pending, starting, booting, running, failed, terminating, terminated).',
    labelNames: ['state'],
    registers,
    async collect() {
      byLabel(this, 'state', INSTANCE_STATES, await countInstancesByState(core));
    },
  });
  new Gauge({
    name: 'ferry_instances_by_hydration',
    help: 'Instances not terminated by hydration: none and hydrating still read their image through Ferry; hydrated ones do not.',
    labelNames: ['hydration'],
    registers,
    async collect() {
      byLabel(this, 'hydration', HYDRATION_STATES, await countLiveInstancesByHydration(core));
    },
  });
  const appChanges = new Counter({
    name: 'ferry_app_status_changes_total',
    help: 'Changes of an application status since this process started: kind replication or launch, and the status reached.',
    labelNames: ['kind', 'status'],
    registers,
  });
  const instanceChanges = new Counter({
    name: 'ferry_instance_state_changes_total',
    help: 'Instance state changes since this process started, by the state reached.',
    labelNames: ['state'],
    registers,
  });
  const bootSeconds = new Histogram({ name: 'ferry_instance_boot_seconds', help: 'From launch to the guest signalling its boot.', buckets: BOOT_BUCKETS, registers });
  const hydratedSeconds = new Histogram({
    name: 'ferry_instance_hydration_seconds',
    help: 'From launch until the instance no longer reads its image through Ferry (hydrated).',
    buckets: HYDRATION_BUCKETS,
    registers,
  });

  const observe = async (instanceId: string, what: 'booted' | 'hydrated') => {
    const row = await instanceTimes(core, instanceId);
    const at = what === 'booted' ? row?.bootedAt : row?.hydratedAt;
    if (!row || at === null || at === undefined) return;
    (what === 'booted' ? bootSeconds : hydratedSeconds).observe(Math.max(0, at - row.launchedAt) / 1000);
  };

  return core.events.subscribe((event: FerryEvent) => {
    if (event.type === 'app.state') {
      if (event.replicationStatus !== event.previous?.replicationStatus) appChanges.inc({ kind: 'replication', status: event.replicationStatus });
      if (event.launchStatus !== event.previous?.launchStatus) appChanges.inc({ kind: 'launch', status: event.launchStatus });
    } else if (event.type === 'instance.state') {
      const before = event.previous;
      if (before === undefined || before?.state !== event.state) instanceChanges.inc({ state: event.state });
      if (event.state === 'running' && before?.state === 'booting') void observe(event.instanceId, 'booted').catch(() => {});
      if (event.hydration === 'hydrated' && before?.hydration !== 'hydrated') void observe(event.instanceId, 'hydrated').catch(() => {});
    }
  });
}
