/** What the launch runner (launchSteps.ts) and its helpers (instancePrep.ts, hydrator.ts, instanceRemoval.ts) work with. */
import type { Logger } from 'pino';
import type { Core } from '../core/context.ts';
import type { DiskExports } from './diskExports.ts';
import type { InstanceFiles } from './instanceFiles.ts';
import type { LaunchPhases } from './launchPhases.ts';
import type { Virsh } from './virsh.ts';

export interface RunnerDeps {
  core: Core;
  virsh: Virsh;
  files: InstanceFiles;
  exports: DiskExports;
  ownerId: () => Promise<string>;
  log: Logger;
  /** Caps each disk's pull (MiB/s); default none. */
  hydrationBandwidthMiB?: number;
  /** Told of each step's end, for timelines (launchPhases.ts). */
  phases?: LaunchPhases;
}
