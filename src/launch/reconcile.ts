/**
 * At start: puts the instance rows and libvirt back in agreement. Every unfinished row is driven again (each step
 * is idempotent, see launchSteps.ts), and a domain that carries this installation's owner id but whose instance is
 * terminated or unknown (which a crash cannot cause — rows are written before domains — but an operator's restore
 * could) is destroyed and undefined, so none is leaked. Domains of other owners are never touched.
 */
import type { Logger } from 'pino';
import type { Core } from '../core/context.ts';
import { instanceIdOfDomain } from '../domain/instance.ts';
import { FERRY_XMLNS, parseDomainMetadata } from './domainXml.ts';
import { findInstance, liveInstances } from './instanceRepo.ts';
import type { Availability } from './libvirtDaemon.ts';
import type { Virsh } from './virsh.ts';

export interface ResumeDeps {
  core: Core;
  virsh: Virsh;
  availability: () => Promise<Availability>;
  ownerId: () => Promise<string>;
  kick: (instanceId: string) => void;
  log: Logger;
}

export async function resumeInstances(deps: ResumeDeps): Promise<void> {
  const rows = await liveInstances(deps.core);
  if (rows.length === 0) return;
  const availability = await deps.availability();
  if (!availability.available) {
    deps.log.warn({ instances: rows.length, reason: availability.reason }, 'instances cannot be resumed: launching is unavailable');
    return;
  }
  const owner = await deps.ownerId();
  const live = new Set(rows.map((r) => r.domain_name));
  for (const name of await deps.virsh.listDomains('all')) {
    const instanceId = instanceIdOfDomain(name);
    if (!instanceId || live.has(name)) continue;
    const meta = parseDomainMetadata((await deps.virsh.metadata(name, FERRY_XMLNS)) ?? '');
    if (meta.owner !== owner || meta.instanceId !== instanceId) continue;
    const row = await findInstance(deps.core, instanceId);
    if (row && row.state !== 'terminated') continue;
    deps.log.warn({ domain: name }, 'removing a domain of this Ferry whose instance is terminated or unknown');
    if ((await deps.virsh.domainState(name))?.state !== 'shut off') await deps.virsh.destroy(name).catch(() => undefined);
    await deps.virsh.undefine(name).catch((error: unknown) => deps.log.warn({ domain: name, err: (error as Error).message }, 'could not undefine'));
  }
  for (const row of rows) deps.kick(row.instance_id);
  deps.log.info({ instances: rows.length }, 'resuming instances');
}
