/**
 * The error list the SMS model gives all 24 App operations, operation by operation, through the AWS SDK:
 * MissingRequiredParameterException (the input the operation needs is absent), InvalidParameterException (an app
 * that does not exist, or a malformed value), and InternalError (the store fails under it: HTTP 500, a message that
 * hides the cause). OperationNotPermittedException has its situations in the operations' own tests (apps,
 * appConfig, appReplication, appLaunch, appTemplates); UnauthorizedOperationException is for permission failures,
 * which Ferry has none of (every key of an account may do everything in it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as sdk from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { rejectsWith } from '../helpers/apps.ts';

const UNKNOWN = 'app-0123456789abcdef0';

type Input = Record<string, unknown>;
// Each case sends deliberately incomplete or wrong inputs, which the commands' input types would refuse.
type AnyCommand = new (input: any) => unknown;
interface Case {
  op: string;
  command: AnyCommand;
  /** An input lacking what the operation needs (undefined: it needs nothing). */
  missing?: Input;
  /** A well-formed input that names an app that does not exist, or carries a malformed value. */
  invalid: Input;
}

const appOnly = (op: string, command: Case['command'], extra: Input = {}): Case => ({ op, command, missing: { ...extra }, invalid: { appId: UNKNOWN, ...extra } });

const CASES: Case[] = [
  { op: 'CreateApp', command: sdk.CreateAppCommand, missing: { description: 'no name' }, invalid: { name: 'x', serverGroups: [{ name: 'g', serverList: [{ serverId: 's-00000000' }] }] } },
  appOnly('GetApp', sdk.GetAppCommand),
  appOnly('UpdateApp', sdk.UpdateAppCommand, { name: 'renamed' }),
  appOnly('DeleteApp', sdk.DeleteAppCommand),
  { op: 'ListApps', command: sdk.ListAppsCommand, invalid: { maxResults: 0 } },
  { op: 'ImportAppCatalog', command: sdk.ImportAppCatalogCommand, invalid: { roleName: 'r'.repeat(5000) } },
  appOnly('PutAppReplicationConfiguration', sdk.PutAppReplicationConfigurationCommand, { serverGroupReplicationConfigurations: [] }),
  appOnly('GetAppReplicationConfiguration', sdk.GetAppReplicationConfigurationCommand),
  appOnly('DeleteAppReplicationConfiguration', sdk.DeleteAppReplicationConfigurationCommand),
  appOnly('StartAppReplication', sdk.StartAppReplicationCommand),
  appOnly('StartOnDemandAppReplication', sdk.StartOnDemandAppReplicationCommand),
  appOnly('StopAppReplication', sdk.StopAppReplicationCommand),
  appOnly('PutAppLaunchConfiguration', sdk.PutAppLaunchConfigurationCommand, { serverGroupLaunchConfigurations: [] }),
  appOnly('GetAppLaunchConfiguration', sdk.GetAppLaunchConfigurationCommand),
  appOnly('DeleteAppLaunchConfiguration', sdk.DeleteAppLaunchConfigurationCommand),
  appOnly('LaunchApp', sdk.LaunchAppCommand),
  appOnly('TerminateApp', sdk.TerminateAppCommand),
  appOnly('GenerateTemplate', sdk.GenerateTemplateCommand, { templateFormat: 'JSON' }),
  appOnly('GenerateChangeSet', sdk.GenerateChangeSetCommand, { changesetFormat: 'JSON' }),
  appOnly('PutAppValidationConfiguration', sdk.PutAppValidationConfigurationCommand, { appValidationConfigurations: [] }),
  appOnly('GetAppValidationConfiguration', sdk.GetAppValidationConfigurationCommand),
  appOnly('DeleteAppValidationConfiguration', sdk.DeleteAppValidationConfigurationCommand),
  appOnly('GetAppValidationOutput', sdk.GetAppValidationOutputCommand),
  appOnly('NotifyAppValidationOutput', sdk.NotifyAppValidationOutputCommand, { notificationContext: { validationId: 'val-0123456789abcdef0', status: 'SUCCEEDED' } }),
];

const send = (t: TestFerry, c: Case, input: Input) => t.sms.send(new c.command(input) as Parameters<sdk.SMSClient['send']>[0]);

test('the table covers the 24 App operations of the model', () => {
  const ops = new Set(CASES.map((c) => c.op));
  assert.equal(ops.size, 24);
  for (const op of ops) assert.ok(`${op}Command` in sdk, op);
});

describe('MissingRequiredParameterException and InvalidParameterException, per App operation', () => {
  let t: TestFerry;
  before(async () => {
    t = await startTestFerry();
  });
  after(() => t.close());

  for (const c of CASES) {
    test(c.op, async () => {
      if (c.missing) await rejectsWith(send(t, c, c.missing), 'MissingRequiredParameterException', c.op === 'CreateApp' ? /name/ : /appId/);
      const error = await rejectsWith(send(t, c, c.invalid), 'InvalidParameterException');
      if (c.invalid.appId === UNKNOWN) assert.match(error.message, new RegExp(UNKNOWN), 'the message names the app');
    });
  }
});

describe('InternalError, per App operation, when the store fails under it', () => {
  let t: TestFerry;
  before(async () => {
    t = await startTestFerry();
    // The store's connection goes away (a disk that vanished, a file that was removed): every read and write throws.
    await t.ferry.core.db.destroy();
  });
  after(() => t.close().catch(() => undefined));

  for (const c of CASES) {
    test(c.op, async () => {
      const error = await send(t, c, c.invalid.appId === UNKNOWN || c.op === 'CreateApp' ? c.invalid : {}).then(
        (value) => assert.fail(`expected InternalError, got ${JSON.stringify(value)}`),
        (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number }; $fault?: string },
      );
      assert.equal(error.name, 'InternalError', `${error.name}: ${error.message}`);
      assert.equal(error.$metadata?.httpStatusCode, 500);
      assert.equal(error.$fault, 'server');
      assert.match(error.message, /^An internal error occurred \(request [\w-]+\)\.$/, 'the cause is not shown');
    });
  }
});
