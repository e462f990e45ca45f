/**
 * Webhook bodies for applications and launched instances (src/observability/webhooks/event.ts): an app's status
 * change as "Server Migration App State Change" (source aws.sms), an instance's state or hydration change as "Ferry
 * Instance State Change" (source ferry.launch); a validation result, which changes neither, is not delivered; and
 * the ordering keys that keep an app's events and its instances' in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APP_DETAIL_TYPE, INSTANCE_DETAIL_TYPE, isStateEvent, orderingKey, toCloudWatchEvent } from '../../src/observability/webhooks/event.ts';
import type { FerryEvent } from '../../src/core/events.ts';

const tenant = { accountId: '123456789012', region: 'eu-west-1' };

test('app and instance state changes as CloudWatch-style events', () => {
  const app: FerryEvent = {
    type: 'app.state',
    tenant,
    appId: 'app-0123456789abcdef0',
    status: 'ACTIVE',
    replicationStatus: 'REPLICATED',
    launchStatus: 'LAUNCHED',
    previous: { status: 'ACTIVE', replicationStatus: 'REPLICATED', launchStatus: 'LAUNCH_IN_PROGRESS' },
  };
  assert.ok(isStateEvent(app));
  assert.equal(orderingKey(app), 'app-0123456789abcdef0');
  assert.deepEqual(toCloudWatchEvent(app, { id: 'e1', time: Date.UTC(2026, 11, 3, 12, 0, 5, 250) }), {
    version: '0',
    id: 'e1',
    'detail-type': APP_DETAIL_TYPE,
    source: 'aws.sms',
    account: '123456789012',
    time: '2026-12-03T12:00:05Z',
    region: 'eu-west-1',
    resources: ['arn:aws:sms:eu-west-1:123456789012:app/app-0123456789abcdef0'],
    detail: {
      appId: 'app-0123456789abcdef0',
      status: 'ACTIVE',
      replicationStatus: 'REPLICATED',
      launchStatus: 'LAUNCHED',
      previousStatus: 'ACTIVE',
      previousReplicationStatus: 'REPLICATED',
      previousLaunchStatus: 'LAUNCH_IN_PROGRESS',
    },
  });

  const booted: FerryEvent = {
    type: 'instance.state',
    tenant,
    instanceId: 'i-0123456789abcdef0',
    appId: 'app-0123456789abcdef0',
    serverId: 's-12345678',
    state: 'running',
    hydration: 'none',
    message: null,
    previous: { state: 'booting', hydration: 'none' },
  };
  assert.ok(isStateEvent(booted));
  assert.equal(orderingKey(booted), 'app-0123456789abcdef0', "an app's instances are delivered in order with the app's own events");
  const body = toCloudWatchEvent(booted, { id: 'e2', time: 0 });
  assert.equal(body['detail-type'], INSTANCE_DETAIL_TYPE);
  assert.equal(body.source, 'ferry.launch');
  assert.deepEqual(body.resources, ['arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0', 'arn:aws:sms:eu-west-1:123456789012:app/app-0123456789abcdef0']);
  assert.deepEqual(body.detail, {
    instanceId: 'i-0123456789abcdef0',
    appId: 'app-0123456789abcdef0',
    serverId: 's-12345678',
    state: 'running',
    previousState: 'booting',
    hydration: 'none',
    previousHydration: 'none',
    statusMessage: null,
  });

  assert.ok(isStateEvent({ ...booted, state: 'running', hydration: 'hydrated', previous: { state: 'running', hydration: 'hydrating' } }), 'a hydration change is delivered');
  assert.ok(!isStateEvent({ ...booted, previous: { state: 'running', hydration: 'none' } }), 'a validation result (no change of state or hydration) is not');
  assert.ok(isStateEvent({ ...booted, state: 'pending', previous: null }), 'a new instance is');
  assert.equal(orderingKey({ ...booted, appId: null }), 'i-0123456789abcdef0');
});
