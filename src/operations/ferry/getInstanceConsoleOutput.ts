import type { Operation } from '../../api/operation.ts';
import { int, str } from '../../api/schema.ts';
import { ServiceError } from '../../lib/errors.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import { MAX_CONSOLE_BYTES } from '../../launch/instanceService.ts';

export interface InstanceConsoleOutput {
  instanceId: string;
  /** The newest `maxBytes` (default 64 KiB) of the instance's serial console, as text. */
  output: string;
  timestamp: Date;
}

/** An instance's serial console output (like EC2's GetConsoleOutput, as plain text rather than base64). */
export const getInstanceConsoleOutput: Operation<{ instanceId?: string; maxBytes?: number }, InstanceConsoleOutput> = {
  input: { instanceId: str(true), maxBytes: int(1, MAX_CONSOLE_BYTES) },
  async handle(input, { core, tenant, instances }) {
    if (!instances) throw new ServiceError('NotImplementedException', 'This Ferry runs without the launch subsystem.');
    const output = await instances.consoleOutput(tenant, input.instanceId!, input.maxBytes);
    return { instanceId: input.instanceId!, output, timestamp: epochDate(core.clock.now()) };
  },
};
