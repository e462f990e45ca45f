/**
 * An instance's state, as the launch subsystem reports it (`instance.state` events), mirrored onto the app's launch
 * row. Called in the transaction that publishes the event when there is one (the app status hook), and by the
 * coordinator after the fact otherwise; writing the same state twice changes nothing, and nothing follows `terminated`.
 */
import type { FerryEvent } from '../events.ts';
import type { Tx } from '../context.ts';
import { selectLaunchRowOfInstance, updateLaunchRow } from '../../store/apps/appQueries.ts';

const INSTANCE_STATES = new Set(['pending', 'starting', 'booting', 'running', 'failed', 'terminating', 'terminated']);

type InstanceEvent = Extract<FerryEvent, { type: 'instance.state' }>;

/** Returns the app whose row changed, or null when nothing did (unknown instance, or the same state). */
export async function recordInstanceState(tx: Tx, event: Pick<InstanceEvent, 'tenant' | 'instanceId' | 'state' | 'message'>, now: number): Promise<string | null> {
  if (!INSTANCE_STATES.has(event.state)) return null;
  const row = await selectLaunchRowOfInstance(tx, event.tenant, event.instanceId);
  if (!row || (row.state === event.state && row.message === event.message)) return null;
  // A terminated instance stays so: the coordinator records what it reads back at once (an instance found terminated
  // right after its terminate), and the older events of that instance, still queued, must not take the row back.
  if (row.state === 'terminated') return null;
  await updateLaunchRow(tx, row.seq, {
    state: event.state,
    message: event.message,
    running_at: event.state === 'running' && row.running_at === null ? now : row.running_at,
    updated_at: now,
  });
  return row.app_id;
}
