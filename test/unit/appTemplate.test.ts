/** GenerateTemplate's CloudFormation template and GenerateChangeSet's change set (domain/appTemplate.ts, appChangeSet.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTemplate, defaultLogicalId, type TemplateInput, type TemplateServer } from '../../src/domain/appTemplate.ts';
import { buildChangeSet } from '../../src/domain/appChangeSet.ts';

const server = (serverId: string, overrides: Partial<TemplateServer> = {}): TemplateServer => ({
  serverId,
  logicalId: defaultLogicalId(serverId),
  amiId: `ami-${serverId.slice(2).padStart(17, '0')}`,
  instanceType: 't3.micro',
  ...overrides,
});

const input: TemplateInput = {
  appId: 'app-0123456789abcdef0',
  appName: 'shop',
  groups: [
    { serverGroupId: 'sg-00000003', name: 'web', launchOrder: 3, servers: [server('s-0000000a', { vmName: 'web1', subnet: 'subnet-1', securityGroup: 'sg-web', associatePublicIpAddress: true })] },
    { serverGroupId: 'sg-00000001', name: 'db', launchOrder: 1, servers: [server('s-00000001', { ec2KeyName: 'ops', subnet: 'subnet-1', securityGroup: 'sg-db', userData: Buffer.from('#!/bin/sh\necho ok\n') })] },
    { serverGroupId: 'sg-00000002', name: 'app', launchOrder: 2, servers: [server('s-00000002', { iamInstanceProfileName: 'app-role', userData: Buffer.from([0x1f, 0x8b, 0, 1]) }), server('s-00000003', { logicalId: 'AppTwo' })] },
  ],
};

describe('buildTemplate', () => {
  const template = buildTemplate(input);

  test('a valid CloudFormation skeleton with one AWS::EC2::Instance per server and an output each', () => {
    assert.equal(template.AWSTemplateFormatVersion, '2010-09-09');
    assert.deepEqual(Object.keys(template.Resources), ['Servers0000000a', 'Servers00000001', 'Servers00000002', 'AppTwo']);
    for (const resource of Object.values(template.Resources)) assert.equal(resource.Type, 'AWS::EC2::Instance');
    assert.deepEqual(template.Outputs.AppTwoInstanceId, { Description: 'Instance of server s-00000003', Value: { Ref: 'AppTwo' } });
    assert.match(template.Description, /shop \(app-0123456789abcdef0\): 4 server\(s\) in 3 launch wave\(s\)/);
    for (const id of Object.keys(template.Resources)) assert.match(id, /^[A-Za-z0-9]+$/);
  });

  test('DependsOn names every instance of the previous launch wave', () => {
    assert.equal(template.Resources.Servers00000001!.DependsOn, undefined);
    assert.deepEqual(template.Resources.Servers00000002!.DependsOn, ['Servers00000001']);
    assert.deepEqual(template.Resources.AppTwo!.DependsOn, ['Servers00000001']);
    assert.deepEqual(template.Resources.Servers0000000a!.DependsOn, ['Servers00000002', 'AppTwo']);
  });

  test('properties map from the launch configuration', () => {
    const db = template.Resources.Servers00000001!.Properties;
    assert.equal(db.ImageId, 'ami-00000000000000001');
    assert.equal(db.InstanceType, 't3.micro');
    assert.equal(db.KeyName, 'ops');
    assert.equal(db.SubnetId, 'subnet-1');
    assert.deepEqual(db.SecurityGroupIds, ['sg-db']);
    assert.deepEqual(db.UserData, { 'Fn::Base64': '#!/bin/sh\necho ok\n' });
    assert.deepEqual((db.Tags as { Key: string; Value: string }[]).map((t) => t.Key), ['Name', 'sms-app-id', 'sms-server-id', 'sms-server-group-id']);
    const app = template.Resources.Servers00000002!.Properties;
    assert.equal(app.IamInstanceProfile, 'app-role');
    assert.equal(app.UserData, Buffer.from([0x1f, 0x8b, 0, 1]).toString('base64'), 'binary user data goes in as base64');
  });

  test('associatePublicIpAddress: the network moves into NetworkInterfaces (CloudFormation refuses both forms)', () => {
    const web = template.Resources.Servers0000000a!.Properties;
    assert.equal(web.SubnetId, undefined);
    assert.equal(web.SecurityGroupIds, undefined);
    assert.deepEqual(web.NetworkInterfaces, [{ DeviceIndex: '0', AssociatePublicIpAddress: true, SubnetId: 'subnet-1', GroupSet: ['sg-web'] }]);
  });

  test('deterministic', () => {
    assert.deepEqual(buildTemplate(input), template);
  });
});

describe('buildChangeSet', () => {
  const launched = buildTemplate(input);
  const base = { changeSetName: 'sms-app-x-changeset-1', stackName: 'sms-app-x', stackId: 'arn:aws:cloudformation:us-east-1:1:stack/sms-app-x/1' };

  test('no difference: no changes, and it says so', () => {
    const doc = buildChangeSet({ ...base, launched, current: launched });
    assert.deepEqual(doc.Changes, []);
    assert.match(doc.Description, /matches/);
    assert.equal(doc.TemplateBody, launched);
  });

  test('Add, Modify (with the replacement CloudFormation would do) and Remove', () => {
    const changed: TemplateInput = {
      ...input,
      groups: [
        { ...input.groups[0]!, servers: [server('s-0000000a', { vmName: 'web1', subnet: 'subnet-1', securityGroup: 'sg-web', associatePublicIpAddress: true, instanceType: 't3.large' })] },
        { ...input.groups[1]!, servers: [server('s-00000001', { ec2KeyName: 'ops', subnet: 'subnet-1', securityGroup: 'sg-db', userData: Buffer.from('#!/bin/sh\necho ok\n'), amiId: 'ami-0000000000000000f' })] },
        { ...input.groups[2]!, servers: [server('s-00000002', { iamInstanceProfileName: 'other-role', userData: Buffer.from([0x1f, 0x8b, 0, 1]) }), server('s-00000004')] },
      ],
    };
    const doc = buildChangeSet({ ...base, launched, current: buildTemplate(changed), physicalIds: new Map([['AppTwo', 'i-0123456789abcdef0'], ['Servers00000001', 'i-00000000000000001']]) });
    const byId = new Map(doc.Changes.map((c) => [c.ResourceChange.LogicalResourceId, c.ResourceChange]));
    assert.equal(byId.get('Servers00000004')!.Action, 'Add');
    assert.deepEqual(byId.get('AppTwo'), { Action: 'Remove', LogicalResourceId: 'AppTwo', PhysicalResourceId: 'i-0123456789abcdef0', ResourceType: 'AWS::EC2::Instance', Scope: [], Details: [] });
    const db = byId.get('Servers00000001')!;
    assert.equal(db.Action, 'Modify');
    assert.equal(db.Replacement, 'True', 'a new image replaces the instance');
    assert.equal(db.PhysicalResourceId, 'i-00000000000000001');
    assert.deepEqual(db.Details.map((d) => [d.Target.Name, d.Target.RequiresRecreation]), [['ImageId', 'Always']]);
    const web = byId.get('Servers0000000a')!;
    assert.equal(web.Replacement, 'Conditional', 'an instance type change may interrupt, not replace');
    const app = byId.get('Servers00000002')!;
    assert.equal(app.Replacement, 'False');
    assert.deepEqual(app.Details.map((d) => [d.Target.Attribute, d.Target.Name, d.Target.RequiresRecreation]), [['Properties', 'IamInstanceProfile', 'Never']]);
    assert.match(doc.Description, /1 to add, 3 to modify, 1 to remove/);
  });
});
