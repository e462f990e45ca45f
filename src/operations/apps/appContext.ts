/** What the App operations take from the request context: the two subsystems (either may be absent). */
import type { RequestContext } from '../operation.ts';
import type { AppPorts } from '../../apps/ports.ts';
import { refreshOptionsFor, type RefreshOptions } from '../../core/apps/refreshApps.ts';

export const portsOf = (ctx: RequestContext): AppPorts => ({ instances: ctx.instances, artifacts: ctx.artifacts });
export const refreshOptionsOf = (ctx: RequestContext): RefreshOptions => refreshOptionsFor(ctx.instances);
