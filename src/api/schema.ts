/**
 * Small input schemas and the one runtime that checks a request against them, in the order of spec §3.4:
 * required members first (MissingRequiredParameterException), then JSON types (SerializationException,
 * spec §1.7), then enums and ranges (InvalidParameterException). Timestamps arrive as epoch seconds and
 * leave as `Date`, like the AWS SDK's types. Another API (the connector protocol) passes its own errors.
 */
import { ServiceError, invalidParameter, missingParameter } from '../lib/errors.ts';

export type Field =
  | { kind: 'string'; required?: boolean; minLength?: number; maxLength?: number; pattern?: RegExp }
  | { kind: 'integer'; required?: boolean; min?: number; max?: number }
  /** Any finite JSON number. */
  | { kind: 'number'; required?: boolean; min?: number }
  | { kind: 'boolean'; required?: boolean }
  | { kind: 'timestamp'; required?: boolean }
  | { kind: 'enum'; values: readonly string[]; required?: boolean }
  | { kind: 'list'; of: Field; required?: boolean; minItems?: number; maxItems?: number }
  | { kind: 'structure'; members: Shape; required?: boolean }
  /** A JSON object whose members are not checked (facts one side keeps for itself). */
  | { kind: 'object'; required?: boolean };

/** The errors a violation is reported with: by default the SMS model's. */
export interface SchemaErrors {
  missing(message: string): Error;
  type(message: string): Error;
  invalid(message: string): Error;
}

export const SMS_SCHEMA_ERRORS: SchemaErrors = {
  missing: missingParameter,
  type: (message) => new ServiceError('SerializationException', message),
  invalid: invalidParameter,
};

export type Shape = Record<string, Field>;

export const str = (required = false): Field => ({ kind: 'string', required });
/** A string with the model's (or Ferry's) bounds: lengths in characters, and a pattern it must match. */
export const boundedStr = (bounds: { min?: number; max?: number; pattern?: RegExp }, required = false): Field => ({
  kind: 'string',
  required,
  minLength: bounds.min,
  maxLength: bounds.max,
  pattern: bounds.pattern,
});
export const int = (min?: number, max?: number, required = false): Field => ({ kind: 'integer', min, max, required });
export const bool = (): Field => ({ kind: 'boolean' });
export const timestamp = (required = false): Field => ({ kind: 'timestamp', required });
export const oneOf = (values: readonly string[]): Field => ({ kind: 'enum', values });
export const listOf = (of: Field, maxItems?: number): Field => ({ kind: 'list', of, maxItems });
export const struct = (members: Shape): Field => ({ kind: 'structure', members });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function checkRequired(shape: Shape, input: Record<string, unknown>, path: string, errors: SchemaErrors): void {
  for (const [name, field] of Object.entries(shape)) {
    if (field.required && isMissing(input[name])) {
      throw errors.missing(`The request is missing the required parameter ${path}${name}.`);
    }
  }
}

function convert(field: Field, value: unknown, path: string, errors: SchemaErrors): unknown {
  const typeError = (where: string, expected: string) => errors.type(`${where} must be ${expected}.`);
  const invalidParameter = errors.invalid;
  switch (field.kind) {
    case 'string':
      if (typeof value !== 'string') throw typeError(path, 'a string');
      if (field.maxLength !== undefined && value.length > field.maxLength) {
        throw invalidParameter(`${path} must be at most ${field.maxLength} characters long.`);
      }
      if (field.minLength !== undefined && value.length < field.minLength) {
        throw invalidParameter(`${path} must be at least ${field.minLength} characters long.`);
      }
      if (field.pattern !== undefined && !field.pattern.test(value)) {
        throw invalidParameter(`${path} must match ${field.pattern.source}; got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}.`);
      }
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(path, 'an integer');
      if ((field.min !== undefined && value < field.min) || (field.max !== undefined && value > field.max)) {
        const range =
          field.max === undefined ? `at least ${field.min}` : field.min === undefined ? `at most ${field.max}` : `between ${field.min} and ${field.max}`;
        throw invalidParameter(`${path} must be ${range}; got ${value}.`);
      }
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw typeError(path, 'a number');
      if (field.min !== undefined && value < field.min) throw invalidParameter(`${path} must be at least ${field.min}; got ${value}.`);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw typeError(path, 'a boolean');
      return value;
    case 'timestamp': {
      const seconds = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
        throw typeError(path, 'a timestamp in epoch seconds');
      }
      const date = new Date(Math.round(seconds * 1000));
      if (Number.isNaN(date.getTime())) throw invalidParameter(`${path} is not a valid time.`);
      return date;
    }
    case 'enum':
      if (typeof value !== 'string') throw typeError(path, 'a string');
      if (!field.values.includes(value)) {
        throw invalidParameter(`${path} must be one of ${field.values.join(', ')}; got ${JSON.stringify(value)}.`);
      }
      return value;
    case 'list':
      if (!Array.isArray(value)) throw typeError(path, 'a list');
      if (field.maxItems !== undefined && value.length > field.maxItems) {
        throw invalidParameter(`${path} may hold at most ${field.maxItems} entries; got ${value.length}.`);
      }
      if (field.minItems !== undefined && value.length < field.minItems) {
        throw invalidParameter(`${path} must hold at least ${field.minItems} entries; got ${value.length}.`);
      }
      return value.map((item, i) => convert(field.of, item, `${path}[${i}]`, errors));
    case 'structure':
      if (!isObject(value)) throw typeError(path, 'an object');
      return validateShape(field.members, value, `${path}.`, errors);
    case 'object':
      if (!isObject(value)) throw typeError(path, 'an object');
      return value;
  }
}

function validateShape(shape: Shape, input: Record<string, unknown>, path: string, errors: SchemaErrors): Record<string, unknown> {
  checkRequired(shape, input, path, errors);
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(shape)) {
    const value = input[name];
    // Clients never send null for unset members (spec §1.3); treat one as absent. Unknown members are ignored.
    if (value === undefined || value === null) continue;
    out[name] = convert(field, value, `${path}${name}`, errors);
  }
  return out;
}

/** Validates a decoded request body against an operation's input shape. */
export function validateInput<T>(shape: Shape, body: unknown, errors: SchemaErrors = SMS_SCHEMA_ERRORS): T {
  if (!isObject(body)) throw errors.type('The request body must be a JSON object.');
  return validateShape(shape, body, '', errors) as T;
}
