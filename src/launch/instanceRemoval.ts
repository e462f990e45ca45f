/**
 * Taking an instance's domain down: stopping a failed one (kept, with its console, for inspection) and removing a
 * terminated one with its exports and files (the runner's `failed` and `terminating` steps, launchSteps.ts).
 */
import { parseDomainMetadata, FERRY_XMLNS } from './domainXml.ts';
import type { InstanceRow } from './instanceRepo.ts';
import type { RunnerDeps } from './runnerDeps.ts';

/** A failed instance's domain is stopped (not removed): no CPU spent, the console kept for inspection. */
export async function stopDomain(deps: RunnerDeps, row: InstanceRow): Promise<void> {
  const state = await deps.virsh.domainState(row.domain_name);
  if (state && state.state !== 'shut off') await deps.virsh.destroy(row.domain_name).catch(() => undefined);
  await deps.exports.close(row.instance_id);
}

/** Destroys and undefines the instance's domain (only if it is ours), closes its exports and removes its files. */
export async function removeDomainAndFiles(deps: RunnerDeps, row: InstanceRow): Promise<void> {
  const { virsh, files, exports } = deps;
  const state = await virsh.domainState(row.domain_name);
  if (state) {
    const mine = parseDomainMetadata((await virsh.metadata(row.domain_name, FERRY_XMLNS)) ?? '');
    if (mine.owner !== (await deps.ownerId()) || mine.instanceId !== row.instance_id) {
      throw new Error(`the libvirt domain ${row.domain_name} is not this instance's; it was left alone`);
    }
    if (state.state !== 'shut off') {
      await virsh.destroy(row.domain_name).catch(async (error) => {
        if ((await virsh.domainState(row.domain_name))?.state !== 'shut off') throw error;
      });
    }
    await virsh.undefine(row.domain_name);
  }
  await exports.close(row.instance_id);
  await files.removeInstanceDir(row.instance_id);
}
