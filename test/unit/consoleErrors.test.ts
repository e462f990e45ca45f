/**
 * How the console places an API error at a form field (web/src/api/errors.ts): the member path an App
 * configuration message names — list, group and entry indexes, members — the innermost member the form has a field
 * for, and the inline text without the path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configErrorPath, fieldMessage, fieldOf, memberOf, serverOfConfigError } from '../../web/src/api/errorPaths.ts';

test('the path of an App configuration message: list, indexes and members', () => {
  const launch = 'serverGroupLaunchConfigurations[1].serverLaunchConfigurations[0].instanceType: Instance type t3.huge does not exist; t3 comes in nano.';
  assert.deepEqual(configErrorPath(launch), { list: 'serverGroupLaunchConfigurations', group: 1, entry: 0, members: ['instanceType'] });
  const missing = 'The request is missing the required parameter serverGroupLaunchConfigurations[0].serverLaunchConfigurations[2].userData.s3Location.';
  const path = configErrorPath(missing)!;
  assert.deepEqual(path, { list: 'serverGroupLaunchConfigurations', group: 0, entry: 2, members: ['userData', 's3Location'] });
  assert.equal(memberOf(path, ['instanceType', 'userData']), 'userData', 'the innermost member the form has');
  const replication = 'serverGroupReplicationConfigurations[0].serverReplicationConfigurations[1].serverReplicationParameters.frequency must be between 1 and 24; got 25.';
  assert.equal(memberOf(configErrorPath(replication)!, ['seedTime', 'frequency']), 'frequency');
  const app = 'appValidationConfigurations[3].ssmValidationParameters.command must be at most 64000 characters long.';
  assert.deepEqual(configErrorPath(app), { list: 'appValidationConfigurations', group: 3, entry: undefined, members: ['ssmValidationParameters', 'command'] });
  assert.equal(configErrorPath('App app-0123456789abcdef0 is replicating (REPLICATED).'), undefined);
});

test('the server group and server a configuration error points at, by the indexes of its path', () => {
  const groups = [
    { serverGroupId: 'sg-a', serverList: [{ serverId: 's-1' }] },
    { serverGroupId: 'sg-b', serverList: [{ serverId: 's-2' }, { serverId: 's-3' }] },
  ];
  const at = (message: string) => serverOfConfigError(configErrorPath(message), groups);
  assert.deepEqual(at('serverGroupLaunchConfigurations[1].serverLaunchConfigurations[1].instanceType: no such size.'), { serverGroupId: 'sg-b', serverId: 's-3' });
  assert.deepEqual(at('serverGroupLaunchConfigurations[0].launchOrder must be at least 1.'), { serverGroupId: 'sg-a', serverId: undefined });
  assert.deepEqual(at('serverGroupLaunchConfigurations[5].serverLaunchConfigurations[0].instanceType: no such size.'), { serverGroupId: undefined, serverId: undefined }, 'an index past the app');
  assert.deepEqual(at('roleName must be at most 64 characters long.'), { serverGroupId: undefined, serverId: undefined }, 'no path');
});

test('an inline error drops the leading member path; a sentence that merely names a member keeps it', () => {
  assert.equal(
    fieldMessage({ code: 'InvalidParameterException', message: 'serverGroupLaunchConfigurations[0].serverLaunchConfigurations[0].vpc: The vpc "x" is not a libvirt network.' }),
    'InvalidParameterException: The vpc "x" is not a libvirt network.',
  );
  const sentence = 'serverGroupReplicationConfigurations[0].serverReplicationConfigurations[0].serverReplicationParameters.frequency must be between 1 and 24; got 0.';
  assert.equal(fieldMessage({ code: 'InvalidParameterException', message: sentence }), `InvalidParameterException: ${sentence}`);
  assert.equal(fieldOf('frequency must be between 1 and 24; got 25.', ['seedReplicationTime', 'frequency']), 'frequency');
});
