/**
 * Ferry's operation table against the SMS model (spec §10): the model in ../shared/spec/model/ beside the
 * repository, and the AWS SDK's own list of commands. The model is not vendored, so these tests need the spec
 * folder there; without it they fail and say where it should be (they never skip).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as sdk from '@aws-sdk/client-sms';
import { NOT_IMPLEMENTED_OPERATIONS, operations } from '../../src/operations/index.ts';
import { SMS_TARGET_PREFIX } from '../../src/server/smsApi.ts';
import type { Field } from '../../src/api/schema.ts';

/** This file is test/unit/modelCoverage.test.ts: three levels up is the folder that holds the repository and shared/. */
const MODEL_PATH = fileURLToPath(new URL('../../../shared/spec/model/service-2.json', import.meta.url));

interface ModelShape {
  type: string;
  required?: string[];
  members?: Record<string, { shape: string }>;
  member?: { shape: string };
  enum?: string[];
}

interface Model {
  metadata: { targetPrefix: string; signingName?: string; endpointPrefix: string };
  operations: Record<string, { input?: { shape: string } }>;
  shapes: Record<string, ModelShape>;
}

let loaded: Model | undefined;
function model(): Model {
  assert.ok(existsSync(MODEL_PATH), `${MODEL_PATH} is missing: the SMS model (spec/model/ of the shared folder beside the repository) is needed to check coverage`);
  loaded ??= JSON.parse(readFileSync(MODEL_PATH, 'utf8')) as Model;
  return loaded;
}

/** Every operation the table routes, implemented or answered as not implemented. */
const routed = (): string[] => [...Object.keys(operations), ...NOT_IMPLEMENTED_OPERATIONS].sort();

test('every model operation is implemented', () => {
  const modelOps = Object.keys(model().operations).sort();
  assert.equal(modelOps.length, 35);
  assert.equal(model().metadata.targetPrefix, SMS_TARGET_PREFIX);
  assert.equal(Object.keys(operations).length, 35);
  const ours = routed();
  assert.equal(new Set(ours).size, ours.length, 'an operation is listed twice');
  assert.deepEqual(ours, modelOps);
});

test("every command of the AWS SDK's SMS client is routed", () => {
  const commands = Object.keys(sdk)
    .filter((name) => /^[A-Z]\w*Command$/.test(name))
    .map((name) => name.slice(0, -'Command'.length))
    .sort();
  assert.equal(commands.length, 35);
  assert.deepEqual(routed(), commands);
});

/** Our schema kind for a model shape. */
function expectedKind(shape: ModelShape): Field['kind'] {
  if (shape.type === 'string') return shape.enum ? 'enum' : 'string';
  if (shape.type === 'long') return 'integer';
  return shape.type as Field['kind'];
}

function compareShape(op: string, path: string, modelShape: ModelShape, ours: Record<string, Field>): void {
  for (const name of modelShape.required ?? []) {
    assert.equal(ours[name]?.required, true, `${op}: ${path}${name} is required in the model but not in Ferry's input schema`);
  }
  for (const [name, ref] of Object.entries(modelShape.members ?? {})) {
    const field = ours[name];
    // A model member missing from the schema would be silently dropped as "unknown".
    assert.ok(field, `${op}: ${path}${name} is in the model but not in Ferry's input schema`);
    compareField(op, `${path}${name}`, model().shapes[ref.shape]!, field);
  }
}

function compareField(op: string, path: string, modelShape: ModelShape, field: Field): void {
  assert.equal(field.kind, expectedKind(modelShape), `${op}: ${path} has kind ${field.kind}, model type ${modelShape.type}`);
  if (field.kind === 'enum') assert.deepEqual([...field.values].sort(), [...modelShape.enum!].sort(), `${op}: ${path} enum values`);
  if (field.kind === 'list') compareField(op, `${path}[]`, model().shapes[modelShape.member!.shape]!, field.of);
  if (field.kind === 'structure') compareShape(op, `${path}.`, modelShape, field.members);
}

test('the 35 operations require what the model requires and know every model member', () => {
  let requiredChecked = 0;
  for (const [op, operation] of Object.entries(operations)) {
    const ref = model().operations[op]?.input;
    assert.ok(ref, `${op} is not in the model`);
    const inputShape = model().shapes[ref.shape]!;
    requiredChecked += inputShape.required?.length ?? 0;
    compareShape(op, '', inputShape, operation.input);
    for (const name of Object.keys(operation.input)) {
      assert.ok(inputShape.members?.[name], `${op}: Ferry accepts ${name}, which the model does not define`);
    }
  }
  // serverId, seedReplicationTime, 4 × replicationJobId, connectorId; appId of the 5 validation operations and of
  // StartOnDemandAppReplication.
  assert.equal(requiredChecked, 13);
});
