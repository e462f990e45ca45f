/** The shape of one SMS operation: an input schema and a thin handler typed by the AWS SDK's own shapes. */
import type { Core, Tenant } from '../core/context.ts';
import type { DataPlane } from '../core/runImages.ts';
import type { Shape } from './schema.ts';
import type { InstanceService } from '../launch/instanceService.ts';

export interface RequestContext {
  core: Core;
  tenant: Tenant;
  requestId: string;
  /** The image store and keys, for Ferry's own operations. */
  plane?: DataPlane;
  /** Launched instances (src/launch), for Ferry's own instance operations and the App operations. */
  instances?: InstanceService;
}

export interface Operation<I, O> {
  input: Shape;
  handle(input: I, ctx: RequestContext): Promise<O>;
}

/** Members every paginated operation accepts. */
export const pageMembers: Shape = {
  nextToken: { kind: 'string' },
  maxResults: { kind: 'integer' },
};
