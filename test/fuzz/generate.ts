/**
 * Seeded generators for the fuzz suite: a small PRNG, JSON values shaped like an operation's input (from the SMS
 * model's shapes or from Ferry's own schemas), and mutations of them. Mostly plausible, often hostile: the point
 * is to reach deep into every handler and to find the inputs no client would send.
 */
import type { Field, Shape } from '../../src/api/schema.ts';

/** mulberry32: tiny, fast, and the same sequence for the same seed everywhere. */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  hex(chars: number): string {
    let out = '';
    for (let i = 0; i < chars; i++) out += '0123456789abcdef'[this.int(0, 15)];
    return out;
  }
}

/** Real values the service knows (ids of this tenant's objects), used for members of the same name. */
export type Pools = Record<string, readonly string[]>;

const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\t\r\n',
  'null',
  'undefined',
  '-1',
  '1e999',
  '0x10',
  '../../../etc/passwd',
  '%00%2e%2e%2f',
  '"; DROP TABLE jobs; --',
  "' OR '1'='1",
  '<script>alert(1)</script>',
  '{"__proto__":{"polluted":true}}',
  '__proto__',
  'constructor',
  '😀🚀',
  'ünïcödé',
  '\ud800',
  '\u202e',
  'sms-job-00000000',
  'sms-run-00000000',
  's-00000000',
  'c-00000000000000000',
  'ami-00000000000000000',
  'alias/aws/ebs',
  'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
];

/** A string: sometimes a real id from the pool, often an ordinary one, sometimes hostile or very long. */
export function stringValue(rnd: Random, name: string, pools: Pools): string {
  const pool = pools[name];
  const roll = rnd.next();
  if (pool && pool.length > 0 && roll < 0.45) return rnd.pick(pool);
  if (roll < 0.7) return `${name}-${rnd.hex(rnd.int(1, 12))}`;
  if (roll < 0.93) return rnd.pick(HOSTILE_STRINGS);
  if (roll < 0.99) return 'x'.repeat(rnd.int(256, 20_000));
  // Past the SMS endpoint's 1 MiB body limit.
  return 'y'.repeat(1024 * 1024 + rnd.int(1, 1000));
}

const NUMBERS = [0, 1, -1, 2, 6, 12, 24, 1000, 2 ** 31, -(2 ** 31), 2 ** 53 + 2, 1.5, -0.5, 1e308, Number.MIN_VALUE];

export function integerValue(rnd: Random, min?: number, max?: number): unknown {
  if (min !== undefined && max !== undefined && rnd.chance(0.5)) return rnd.int(min, max);
  if (rnd.chance(0.6)) return rnd.pick(NUMBERS);
  return rnd.pick(['5', true, null, [], {}, 'NaN']);
}

export function timestampValue(rnd: Random, now: number): unknown {
  const seconds = now / 1000;
  return rnd.pick<unknown>([
    Math.floor(seconds),
    seconds + rnd.int(-86400 * 10, 86400 * 40),
    seconds + 0.123,
    0,
    -1,
    -62135596800,
    253402300800,
    8.64e12,
    1e300,
    '2026-01-01T00:00:00Z',
    'yesterday',
    '',
    true,
    [],
  ]);
}

/** A wrong JSON type for anything. */
export function wrongType(rnd: Random): unknown {
  return rnd.pick<unknown>([null, true, 42, -7.25, 'string', [], [1, 'a'], {}, { nested: { deeper: [] } }]);
}

interface ModelShape {
  type: string;
  required?: string[];
  members?: Record<string, { shape: string }>;
  member?: { shape: string };
  enum?: string[];
  max?: number;
  min?: number;
}

export interface Model {
  metadata: { targetPrefix: string; signingName?: string };
  operations: Record<string, { input?: { shape: string } }>;
  shapes: Record<string, ModelShape>;
}

export interface Context {
  rnd: Random;
  pools: Pools;
  now: number;
}

/** A value for a model shape; `name` is the member it fills (to draw real ids from the pools). */
export function modelValue(model: Model, shapeName: string, name: string, ctx: Context, depth = 0): unknown {
  const shape = model.shapes[shapeName];
  if (!shape) throw new Error(`the model has no shape ${shapeName}`);
  const { rnd } = ctx;
  if (rnd.chance(0.04)) return wrongType(rnd);
  switch (shape.type) {
    case 'string':
      if (shape.enum && rnd.chance(0.8)) return rnd.pick(shape.enum);
      return stringValue(rnd, name, ctx.pools);
    case 'integer':
    case 'long':
      return integerValue(rnd, shape.min ?? 0, shape.max ?? 100);
    case 'boolean':
      return rnd.chance(0.9) ? rnd.chance(0.5) : rnd.pick<unknown>(['true', 0, 1]);
    case 'timestamp':
      return timestampValue(rnd, ctx.now);
    case 'list': {
      const length = depth > 3 ? 0 : rnd.chance(0.03) ? rnd.int(100, 700) : rnd.int(0, 4);
      return Array.from({ length }, () => modelValue(model, shape.member!.shape, name, ctx, depth + 1));
    }
    case 'structure': {
      const out: Record<string, unknown> = {};
      for (const [member, ref] of Object.entries(shape.members ?? {})) {
        const required = shape.required?.includes(member) ?? false;
        if (depth > 4 || !(required ? rnd.chance(0.93) : rnd.chance(0.45))) continue;
        out[member] = modelValue(model, ref.shape, member, ctx, depth + 1);
      }
      if (rnd.chance(0.05)) out[rnd.pick(['unknownMember', '__proto__', 'constructor', 'Filter'])] = wrongType(rnd);
      return out;
    }
    default:
      return wrongType(rnd);
  }
}

/** A value for one of Ferry's own schema fields (src/api/schema.ts). */
export function fieldValue(field: Field, name: string, ctx: Context, depth = 0): unknown {
  const { rnd } = ctx;
  if (rnd.chance(0.05)) return wrongType(rnd);
  switch (field.kind) {
    case 'string':
      return stringValue(rnd, name, ctx.pools);
    case 'integer':
      return integerValue(rnd, field.min, field.max);
    case 'boolean':
      return rnd.chance(0.5);
    case 'timestamp':
      return timestampValue(rnd, ctx.now);
    case 'enum':
      return rnd.chance(0.8) ? rnd.pick(field.values) : stringValue(rnd, name, ctx.pools);
    case 'list':
      return Array.from({ length: depth > 3 ? 0 : rnd.int(0, 4) }, () => fieldValue(field.of, name, ctx, depth + 1));
    case 'structure':
      return shapeValue(field.members, ctx, depth + 1);
  }
}

export function shapeValue(shape: Shape, ctx: Context, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(shape)) {
    if (ctx.rnd.chance(field.required ? 0.93 : 0.5)) out[name] = fieldValue(field, name, ctx, depth);
  }
  return out;
}

/** The body as sent: usually the JSON of `input`, sometimes not JSON at all, or JSON that is not an object. */
export function bodyText(input: unknown, rnd: Random): string {
  const roll = rnd.next();
  if (roll < 0.9) return JSON.stringify(input);
  return rnd.pick([
    '',
    '{',
    'not json',
    '[]',
    '"a string"',
    '42',
    'null',
    '{"a":1}}',
    '\u0000\u0001',
    `{${'"k":1,'.repeat(2000)}"k":2}`,
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    '{"__proto__":{"isAdmin":true}}',
  ]);
}
