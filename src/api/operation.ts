/** The shape of one SMS operation: an input schema and a thin handler typed by the AWS SDK's own shapes. */
import type { Core, Tenant } from '../core/context.ts';
import type { DataPlane } from '../core/runImages.ts';
import type { ArtifactStore } from '../artifacts/artifactStore.ts';
import type { Shape } from './schema.ts';

export interface RequestContext {
  core: Core;
  tenant: Tenant;
  requestId: string;
  /** The image store and keys, for Ferry's own operations. */
  plane?: DataPlane;
  /** Artifact buckets (user data, scripts, templates), for the App operations. */
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
