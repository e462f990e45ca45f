/** The shape of one SMS operation: an input schema and a thin handler typed by the AWS SDK's own shapes. */
import type { Core } from '../core/context.ts';
import type { Tenant } from '../domain/tenant.ts';
import type { DataPlane } from '../core/runImages.ts';
import type { Shape } from '../api/schema.ts';
import type { ArtifactStore, InstanceService } from '../apps/ports.ts';

export interface RequestContext {
  core: Core;
  tenant: Tenant;
  requestId: string;
  /** The image store and keys, for Ferry's own operations. */
  plane?: DataPlane;
  /** The launch subsystem (instances on libvirt), when this Ferry has one: LaunchApp, TerminateApp, DeleteApp. */
  instances?: InstanceService;
  /** The artifact buckets (user data, scripts, templates), when wired: GenerateTemplate, GenerateChangeSet. */
  artifacts?: ArtifactStore;
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
