/**
 * How the PostgreSQL store reads values back: identical to what the SQLite store returns for the same row, so the
 * row types (store/schema.ts) hold on both dialects and no code above the store knows which one it runs on.
 *
 * - int8 (every integer column, see portableDdl.ts; `count(*)`) and numeric (`sum(bigint)`) → number. Ferry's
 *   integers are counts, sizes and epoch milliseconds, all far below 2^53; one that is not a safe integer is
 *   refused rather than rounded.
 * - bytea → Uint8Array, as node:sqlite returns a blob (pg's default is a Buffer, which compares unequal).
 * Everything else keeps pg's parser (text as string, int4 as number). Booleans never occur: the schema stores 0/1.
 */
import pg from 'pg';

const INT8 = 20;
const NUMERIC = 1700;
const BYTEA = 17;

function safeNumber(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) && !(Number.isFinite(value) && text.includes('.'))) {
    throw new RangeError(`the store read ${text}, which a JavaScript number cannot hold exactly`);
  }
  return value;
}

function bytes(text: string): Uint8Array {
  // bytea_output = 'hex' (the default since PostgreSQL 9.0): "\x" then two hex digits per byte.
  // Copied out of the Buffer: a small Buffer is a view into a shared pool.
  return Uint8Array.from(Buffer.from(text.slice(2), 'hex'));
}

export const ferryTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (format !== 'binary') {
      if (oid === INT8 || oid === NUMERIC) return safeNumber;
      if (oid === BYTEA) return bytes;
    }
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};
