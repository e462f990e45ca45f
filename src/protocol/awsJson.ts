/**
 * AWS JSON 1.1 codec (spec §1), with no SMS knowledge beyond the target prefix it is given: operation routing by
 * `X-Amz-Target`, request decoding, response encoding (timestamps as epoch seconds, at most 3 decimals) and the
 * `{"__type","message"}` error envelope.
 */
import { ServiceError } from '../lib/errors.ts';

export const CONTENT_TYPE = 'application/x-amz-json-1.1';
const ACCEPTED_CONTENT_TYPES = new Set([CONTENT_TYPE, 'application/json']);

export function operationFromTarget(target: string | undefined, prefix: string): string {
  if (!target) throw new ServiceError('UnknownOperationException', 'Missing X-Amz-Target header.');
  const dot = target.lastIndexOf('.');
  if (dot < 0 || target.slice(0, dot) !== prefix) {
    throw new ServiceError('UnknownOperationException', `Unknown target ${JSON.stringify(target)}: expected ${prefix}.<Operation>.`);
  }
  return target.slice(dot + 1);
}

/** Media type check: the clients always send application/x-amz-json-1.1; plain JSON is accepted too. */
export function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined) return;
  const mediaType = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (!ACCEPTED_CONTENT_TYPES.has(mediaType)) {
    throw new ServiceError('UnsupportedMediaTypeException', `Content-Type ${mediaType} is not supported; send ${CONTENT_TYPE}.`);
  }
}

export function decodeBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ServiceError('SerializationException', 'The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ServiceError('SerializationException', 'The request body must be a JSON object.');
  }
  return parsed;
}

/**
 * A Date that serialises as AWS JSON's timestamp: epoch seconds with millisecond precision. Output mappers create
 * these, so responses are encoded by a plain JSON.stringify (a replacer function costs more than a 50-job page).
 */
export class EpochDate extends Date {
  override toJSON(): string {
    // JSON.stringify writes whatever toJSON returns; a number stays a number on the wire.
    return (Math.round(this.getTime()) / 1000) as unknown as string;
  }
}

export const epochDate = (ms: number): Date => new EpochDate(ms);

/** An output that is AWS JSON text already (a list page written from its rows; see operations/jobPageJson.ts). */
export class EncodedJson {
  readonly text: string;
  #bytes: Buffer | undefined;
  constructor(text: string) {
    this.text = text;
  }
  /** The text as UTF-8, encoded once (a kept page is sent again as the same bytes). */
  get bytes(): Buffer {
    return (this.#bytes ??= Buffer.from(this.text));
  }
}

/** An operation's output as the bytes of its body. */
export function encodeBodyBytes(output: unknown): Buffer {
  return output instanceof EncodedJson ? output.bytes : Buffer.from(encodeBody(output));
}

/** Encodes an operation's output. Dates must be EpochDates; a plain Date would leave as an ISO string. */
export function encodeBody(output: unknown): string {
  if (output instanceof EncodedJson) return output.text;
  return JSON.stringify(output ?? {});
}

/** The error envelope: JSON 1.1 names the error by its bare shape name. */
export function encodeError(code: string, message: string): string {
  return JSON.stringify({ __type: code, message });
}
