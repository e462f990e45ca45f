/**
 * A launched instance's lifecycle, as data: its states, the moves between them, and its id. Pure rules, no I/O;
 * src/launch drives them against libvirt and persists every move before the external step it allows.
 *
 *   pending ──▶ starting ──▶ booting ──▶ running
 *      │            │            │           │
 *      └────────────┴─────┬──────┘           │
 *                         ▼                  │
 *                       failed               │
 *   (any of the above) ──▶ terminating ──▶ terminated
 *
 * - pending: the row exists; files (overlays over the image's NBD export, the NoCloud seed) are being made.
 * - starting: the files exist; the libvirt domain is being defined.
 * - booting: `virsh start` has been asked for; the console and guest agent are watched for the boot signal.
 * - running: the guest signalled it booted. Validation results may still arrive.
 * - failed: it did not get there (the message says why); its domain, if any, is stopped but kept for inspection.
 * - terminating → terminated: the domain is destroyed and undefined, its files and exports removed.
 * Hydration (copying the image into the instance's own disk) runs beside booting/running: none → hydrating →
 * hydrated | failed.
 */
import { randomBytes } from 'node:crypto';

export const INSTANCE_STATES = ['pending', 'starting', 'booting', 'running', 'failed', 'terminating', 'terminated'] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];
export const HYDRATION_STATES = ['none', 'hydrating', 'hydrated', 'failed'] as const;
export type HydrationState = (typeof HYDRATION_STATES)[number];

export type InstanceEvent = 'prepared' | 'defined' | 'booted' | 'fail' | 'terminate' | 'removed';

const MOVES: Record<InstanceEvent, { from: readonly InstanceState[]; to: InstanceState }> = {
  prepared: { from: ['pending'], to: 'starting' },
  defined: { from: ['starting'], to: 'booting' },
  booted: { from: ['booting'], to: 'running' },
  fail: { from: ['pending', 'starting', 'booting', 'running'], to: 'failed' },
  terminate: { from: ['pending', 'starting', 'booting', 'running', 'failed'], to: 'terminating' },
  removed: { from: ['terminating'], to: 'terminated' },
};

export class IllegalInstanceTransition extends Error {}

/** The state `event` moves `state` to; throws IllegalInstanceTransition when the move is not allowed. */
export function nextInstanceState(state: InstanceState, event: InstanceEvent): InstanceState {
  const move = MOVES[event];
  if (!move.from.includes(state)) throw new IllegalInstanceTransition(`An instance cannot go from ${state} on ${event}.`);
  return move.to;
}

export function canMove(state: InstanceState, event: InstanceEvent): boolean {
  return MOVES[event].from.includes(state);
}

/** EC2-style instance ids: `i-` and 17 lower-case hex digits. */
export const INSTANCE_ID = /^i-[0-9a-f]{17}$/;

export function newInstanceId(): string {
  return `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** The libvirt domain of an instance: the id is in the name, so `virsh list` shows it. */
export function domainNameOf(instanceId: string): string {
  return `ferry-${instanceId}`;
}

/** The instance id a Ferry domain name carries, if it is one. */
export function instanceIdOfDomain(name: string): string | undefined {
  const id = name.startsWith('ferry-') ? name.slice('ferry-'.length) : '';
  return INSTANCE_ID.test(id) ? id : undefined;
}
