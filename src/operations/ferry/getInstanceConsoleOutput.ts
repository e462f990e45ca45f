import type { Operation } from '../operation.ts';
import { int, str } from '../../api/schema.ts';
import { ServiceError } from '../../lib/errors.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import { MAX_CONSOLE_BYTES } from '../../launch/instanceService.ts';
import type { FerryInput, FerryOutput } from '../../api/ferryWire.ts';

/** An instance's serial console output (like EC2's GetConsoleOutput, as plain text rather than base64). */
export const getInstanceConsoleOutput: Operation<FerryInput<'GetInstanceConsoleOutput'>, FerryOutput<'GetInstanceConsoleOutput', Date>> = {
  input: { instanceId: str(true), maxBytes: int(1, MAX_CONSOLE_BYTES) },
  async handle(input, { core, tenant, instances }) {
    if (!instances) throw new ServiceError('NotImplementedException', 'This Ferry runs without the launch subsystem.');
    const output = await instances.consoleOutput(tenant, input.instanceId!, input.maxBytes);
    return { instanceId: input.instanceId!, output, timestamp: epochDate(core.clock.now()) };
  },
};
