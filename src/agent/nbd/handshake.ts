/**
 * The NBD handshake (fixed newstyle, client side): NO_ZEROES, then NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT
 * (the contexts the caller asks for, e.g. base:allocation and qemu:dirty-bitmap:NAME) and NBD_OPT_GO asking for
 * NBD_INFO_BLOCK_SIZE (NBD_OPT_EXPORT_NAME only if the server does not know GO). It reads from HandshakeBytes, which
 * the client fills from its socket until the handshake is over; whatever arrived after it belongs to the
 * transmission phase.
 */
import {
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  NBD_MAGIC,
  OLDSTYLE_MAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  readU64,
  REP,
  REP_ERR_BIT,
  REP_ERR_NAMES,
  REP_ERR_UNSUP,
} from './protocol.ts';
import { NbdOptionError, NbdProtocolError } from './errors.ts';

/** Sanity limit on an option reply's body. */
const MAX_OPTION_REPLY = 16 * 1024 * 1024;

export interface NbdBlockSize {
  minimum: number;
  preferred: number;
  maximum: number;
}

/** What the handshake agreed on. */
export interface NegotiatedExport {
  size: number;
  transmissionFlags: number;
  /** Block size constraints (undefined when the server sent no NBD_INFO_BLOCK_SIZE). */
  blockSize: NbdBlockSize | undefined;
  structuredReplies: boolean;
  /** Meta contexts: name → server-chosen id. */
  contexts: Map<string, number>;
}

/** The bytes a server sends during the handshake, read exactly as many at a time as the handshake asks for. */
export class HandshakeBytes {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#wake();
  }

  readExact(n: number): Promise<Buffer> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiter = { n, resolve, reject };
      this.#wake();
    });
  }

  /** Ends the handshake's reading: a read waiting now is rejected with `error`. */
  fail(error: Error): void {
    this.#failure ??= error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }

  /** What arrived after the handshake's last read (the first replies of the transmission phase). */
  takeRest(): Buffer[] {
    const rest = this.#chunks;
    this.#chunks = [];
    this.#buffered = 0;
    return rest;
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (!waiter || this.#buffered < waiter.n) return;
    this.#waiter = undefined;
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out = all.subarray(0, waiter.n);
    const rest = all.subarray(waiter.n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
    waiter.resolve(out);
  }
}

function optionName(option: number): string {
  for (const [name, value] of Object.entries(OPT)) if (value === option) return `NBD_OPT_${name}`;
  return `NBD_OPT_${option}`;
}

/** One handshake over `bytes` (what the server sent) and `write` (to the server). */
export async function negotiate(bytes: HandshakeBytes, write: (data: Buffer) => void, exportName: string, metaContexts: readonly string[]): Promise<NegotiatedExport> {
  const sendOption = (option: number, data: Buffer): void => {
    const head = Buffer.allocUnsafe(16);
    head.writeBigUInt64BE(IHAVEOPT, 0);
    head.writeUInt32BE(option, 8);
    head.writeUInt32BE(data.length, 12);
    write(data.length > 0 ? Buffer.concat([head, data]) : head);
  };
  const readOptionReply = async (option: number): Promise<{ type: number; data: Buffer }> => {
    const head = await bytes.readExact(20);
    if (head.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) throw new NbdProtocolError(`bad option reply magic for ${optionName(option)}`);
    const echoed = head.readUInt32BE(8);
    if (echoed !== option) throw new NbdProtocolError(`option reply for ${optionName(echoed)} while waiting for ${optionName(option)}`);
    const type = head.readUInt32BE(12);
    const length = head.readUInt32BE(16);
    if (length > MAX_OPTION_REPLY) throw new NbdProtocolError(`option reply of ${length} bytes for ${optionName(option)}`);
    const data = length > 0 ? await bytes.readExact(length) : Buffer.alloc(0);
    return { type, data };
  };
  const optionError = (option: number, reply: { type: number; data: Buffer }): NbdOptionError => {
    const name = REP_ERR_NAMES[reply.type] ?? `NBD_REP_ERR_${reply.type - REP_ERR_BIT}`;
    return new NbdOptionError(optionName(option), name, reply.data.toString('utf8'));
  };

  const hello = await bytes.readExact(16);
  if (hello.readBigUInt64BE(0) !== NBD_MAGIC) throw new NbdProtocolError('not an NBD server (no NBDMAGIC)');
  const style = hello.readBigUInt64BE(8);
  if (style === OLDSTYLE_MAGIC) throw new NbdProtocolError('oldstyle NBD servers are not supported');
  if (style !== IHAVEOPT) throw new NbdProtocolError('bad newstyle magic');
  const serverFlags = (await bytes.readExact(2)).readUInt16BE(0);
  if ((serverFlags & FLAG_FIXED_NEWSTYLE) === 0) throw new NbdProtocolError('server does not support fixed newstyle negotiation');
  const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.allocUnsafe(4);
  clientFlags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0));
  write(clientFlags);

  const negotiated: NegotiatedExport = { size: 0, transmissionFlags: 0, blockSize: undefined, structuredReplies: false, contexts: new Map() };
  sendOption(OPT.STRUCTURED_REPLY, Buffer.alloc(0));
  const sr = await readOptionReply(OPT.STRUCTURED_REPLY);
  if (sr.type === REP.ACK) negotiated.structuredReplies = true;
  else if ((sr.type & REP_ERR_BIT) === 0) throw new NbdProtocolError(`unexpected reply ${sr.type} to NBD_OPT_STRUCTURED_REPLY`);

  const name = Buffer.from(exportName, 'utf8');
  if (negotiated.structuredReplies && metaContexts.length > 0) {
    const queries = metaContexts.map((q) => Buffer.from(q, 'utf8'));
    const data = Buffer.allocUnsafe(8 + name.length + queries.reduce((s, q) => s + 4 + q.length, 0));
    let at = data.writeUInt32BE(name.length, 0);
    at += name.copy(data, at);
    at = data.writeUInt32BE(queries.length, at);
    for (const q of queries) {
      at = data.writeUInt32BE(q.length, at);
      at += q.copy(data, at);
    }
    sendOption(OPT.SET_META_CONTEXT, data);
    for (;;) {
      const reply = await readOptionReply(OPT.SET_META_CONTEXT);
      if (reply.type === REP.ACK) break;
      if (reply.type === REP.META_CONTEXT) {
        if (reply.data.length < 4) throw new NbdProtocolError('short NBD_REP_META_CONTEXT');
        negotiated.contexts.set(reply.data.toString('utf8', 4), reply.data.readUInt32BE(0));
        continue;
      }
      if (reply.type === REP_ERR_UNSUP) break;
      if ((reply.type & REP_ERR_BIT) !== 0) throw optionError(OPT.SET_META_CONTEXT, reply);
      throw new NbdProtocolError(`unexpected reply ${reply.type} to NBD_OPT_SET_META_CONTEXT`);
    }
  }

  const go = Buffer.allocUnsafe(4 + name.length + 4);
  let at = go.writeUInt32BE(name.length, 0);
  at += name.copy(go, at);
  at = go.writeUInt16BE(1, at);
  go.writeUInt16BE(INFO.BLOCK_SIZE, at);
  sendOption(OPT.GO, go);
  let gotExport = false;
  for (;;) {
    const reply = await readOptionReply(OPT.GO);
    if (reply.type === REP.ACK) break;
    if (reply.type === REP.INFO) {
      if (reply.data.length < 2) throw new NbdProtocolError('short NBD_REP_INFO');
      const info = reply.data.readUInt16BE(0);
      if (info === INFO.EXPORT) {
        if (reply.data.length < 12) throw new NbdProtocolError('short NBD_INFO_EXPORT');
        negotiated.size = readU64(reply.data, 2);
        negotiated.transmissionFlags = reply.data.readUInt16BE(10);
        gotExport = true;
      } else if (info === INFO.BLOCK_SIZE) {
        if (reply.data.length < 14) throw new NbdProtocolError('short NBD_INFO_BLOCK_SIZE');
        const minimum = reply.data.readUInt32BE(2);
        const preferred = reply.data.readUInt32BE(6);
        const maximum = reply.data.readUInt32BE(10);
        if (minimum >= 1 && maximum >= minimum) negotiated.blockSize = { minimum, preferred, maximum };
      }
      continue;
    }
    if (reply.type === REP_ERR_UNSUP) {
      // A server without NBD_OPT_GO: the old way, which ends the handshake with the export's size and flags.
      sendOption(OPT.EXPORT_NAME, name);
      const old = await bytes.readExact(noZeroes ? 10 : 134);
      negotiated.size = readU64(old, 0);
      negotiated.transmissionFlags = old.readUInt16BE(8);
      gotExport = true;
      break;
    }
    if ((reply.type & REP_ERR_BIT) !== 0) throw optionError(OPT.GO, reply);
    throw new NbdProtocolError(`unexpected reply ${reply.type} to NBD_OPT_GO`);
  }
  if (!gotExport) throw new NbdProtocolError('server sent no NBD_INFO_EXPORT');
  return negotiated;
}
