/**
 * The launcher's child (see launcher.ts): a small process that runs short-lived programs for the service and
 * sends back their exit code and output. It exits when the service goes away.
 */
import { runDirectly, type LaunchReply, type LaunchRequest } from './launcher.ts';

process.on('message', (request: LaunchRequest) => {
  void runDirectly(request).then((result) => process.send?.({ id: request.id, ...result } satisfies LaunchReply));
});

process.on('disconnect', () => process.exit(0));
