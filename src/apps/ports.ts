/**
 * The two interfaces the App operations drive but do not implement: the launch subsystem (instances on libvirt,
 * src/launch/) and the artifact store (S3-style buckets, src/artifacts/). Declared here as the parts Ferry's app
 * code uses, exactly as those subsystems expose them, so theirs plug in structurally. When one is absent (not wired,
 * or libvirt missing), the operations that need it answer an error saying so — never a fake success.
 */
import type { ArtifactObject, ArtifactStore as FullArtifactStore } from '../artifacts/artifactStore.ts';
import type { InstanceService } from './instances.ts';
import type { Tenant } from '../domain/tenant.ts';

// The launch subsystem's contract (apps/instances.ts): launch/ implements it.
export type { HydrationState, Instance, InstanceService, InstanceSpec, InstanceState, InstanceValidationResult } from './instances.ts';

/** What the App layer uses of the artifact store (src/artifacts/artifactStore.ts): its small-object calls. */
export type ArtifactStore = Pick<FullArtifactStore, 'ensureBucket' | 'putObject' | 'getObject' | 'headObject' | 'deleteObject' | 'listObjects'>;
export type { ArtifactObject };

/** What the app code has of the two subsystems; either may be missing. */
export interface AppPorts {
  instances?: InstanceService;
  artifacts?: ArtifactStore;
}
