/** The region rule (src/protocol/region.ts): AWS's region names, and the FERRY_REGIONS list. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAllowedRegion, isRegionName, parseRegionList, quotedRegion } from '../../src/protocol/region.ts';

test('region names look like AWS regions in every partition', () => {
  for (const region of ['us-east-1', 'eu-central-2', 'ap-southeast-4', 'us-gov-west-1', 'cn-northwest-1', 'us-isob-east-1', 'eu-isoe-west-1', 'mx-central-1']) {
    assert.ok(isRegionName(region), region);
  }
  for (const region of ['', 'US-EAST-1', 'us-east', 'east-1', 'u-east-1', 'us_east_1', 'us-east-1 ', ' us-east-1', 'us-east-123', '..', 'us-ea$t-1', 'üs-east-1', 'aws-global', `us-${'a'.repeat(17)}-1`, 'us-a-b-c-d-1']) {
    assert.ok(!isRegionName(region), region);
  }
});

test('a configured list narrows the allowed regions', () => {
  const allowed = new Set(['eu-west-1']);
  assert.ok(isAllowedRegion('eu-west-1', allowed));
  assert.ok(!isAllowedRegion('us-east-1', allowed));
  assert.ok(isAllowedRegion('us-east-1'));
  assert.ok(!isAllowedRegion('US-EAST-1'));
});

test('FERRY_REGIONS is a comma-separated list of region names', () => {
  assert.deepEqual([...parseRegionList(' us-east-1, eu-west-1 ,')], ['us-east-1', 'eu-west-1']);
  assert.throws(() => parseRegionList('us-east-1,Moon'), /FERRY_REGIONS: "Moon" is not a region name/);
  assert.throws(() => parseRegionList(' , '), /at least one region/);
});

test('a region quoted in a message is shortened', () => {
  assert.equal(quotedRegion('us-east-1'), 'us-east-1');
  assert.equal(quotedRegion('x'.repeat(8000)).length, 41);
});
