/**
 * The launcher's child (see launcher.ts): a small process that runs short-lived programs for the service and
 * sends back their exit code and output, and keeps the programs started ahead of their use (warmPrograms.ts). It
 * exits when the service goes away (its programs started ahead then read the end of their input and end too).
 */
import { runDirectly, type LaunchReply, type LaunchRequest } from './launcher.ts';
import { prewarm, runWarm } from './warmPrograms.ts';

process.on('message', (request: LaunchRequest) => {
  if (request.prewarm) return prewarm(request);
  void (request.warm ? runWarm(request) : runDirectly(request)).then((result) => process.send?.({ id: request.id, ...result } satisfies LaunchReply));
});

process.on('disconnect', () => process.exit(0));
