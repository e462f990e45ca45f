/**
 * Ferry's NBD client: a read-only client for qemu-nbd / nbdkit over a Unix socket.
 *
 * Handshake: fixed newstyle with NO_ZEROES, then NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT (the contexts
 * the caller asks for, e.g. base:allocation and qemu:dirty-bitmap:NAME) and NBD_OPT_GO asking for
 * NBD_INFO_BLOCK_SIZE (NBD_OPT_EXPORT_NAME only if the server does not know GO).
 *
 * Transmission: requests are pipelined up to `queueDepth` at a time; replies may come back in any order and as
 * several chunks each, so every request lives in a cookie → request map until its DONE chunk. The socket is read
 * with `onread` into one reusable buffer and a small state machine copies NBD_REPLY_TYPE_OFFSET_DATA payloads
 * straight from it into the caller's buffer (one copy, no intermediate Buffers); OFFSET_HOLE chunks are
 * zero-filled. ERROR / ERROR_OFFSET chunks and simple-reply errnos become NbdCommandError with the errno name.
 *
 * A request that times out or is aborted is rejected at once, but it still occupies its place in the map and in
 * the queue until the server's reply arrives; that reply is read and thrown away, never written into the
 * caller's buffer. If the server dies, every pending request is rejected with an NbdConnectionError.
 */
import { createConnection, type Socket } from 'node:net';
import {
  CHUNK,
  CHUNK_ERROR_BIT,
  CMD,
  CMD_NAMES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  NBD_MAGIC,
  OLDSTYLE_MAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  REP,
  REP_ERR_BIT,
  REP_ERR_NAMES,
  REP_ERR_UNSUP,
  REPLY_FLAG_DONE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  TFLAG,
  errnoName,
} from './protocol.ts';
import {
  NbdAbortError,
  NbdCommandError,
  NbdConnectionError,
  NbdError,
  NbdOptionError,
  NbdProtocolError,
  NbdTimeoutError,
} from './errors.ts';

export interface NbdConnectOptions {
  /** Path of the server's Unix socket. */
  socketPath: string;
  /** Export to open ('' = the server's default export). */
  exportName?: string;
  /** Meta contexts to negotiate, e.g. ['base:allocation', 'qemu:dirty-bitmap:ferry-vm1-2']. */
  metaContexts?: readonly string[];
  /** Most requests on the wire at once (default 16). */
  queueDepth?: number;
  /** Per-request timeout in ms, counted from the call (default 120 000; 0 = none). */
  requestTimeoutMs?: number;
  /** Timeout for connect + handshake in ms (default 10 000). */
  handshakeTimeoutMs?: number;
  /** Size of the reusable socket read buffer (default 256 KiB). */
  readBufferSize?: number;
  signal?: AbortSignal;
}

export interface NbdBlockSize {
  minimum: number;
  preferred: number;
  maximum: number;
}

/** One block-status extent of one context. */
export interface NbdExtent {
  offset: number;
  length: number;
  flags: number;
}

export interface NbdRequestOptions {
  signal?: AbortSignal;
  /** Overrides the connection's requestTimeoutMs for this call. */
  timeoutMs?: number;
}

const DEFAULT_QUEUE_DEPTH = 16;
const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_READ_BUFFER = 256 * 1024;
/** Largest request the client sends even if the server allows more (the NBD spec's suggested default maximum). */
const CLIENT_MAX_REQUEST = 32 * 1024 * 1024;
/** Largest range asked for in one NBD_CMD_BLOCK_STATUS (servers answer less anyway). */
const MAX_BLOCK_STATUS_LENGTH = 2 ** 31;
/** Sanity limits on chunk bodies that are buffered whole (qemu caps block status at 128 Ki extents = 1 MiB). */
const MAX_BLOCK_STATUS_CHUNK = 64 * 1024 * 1024;
const MAX_ERROR_CHUNK = 1024 * 1024;
const MAX_OPTION_REPLY = 16 * 1024 * 1024;
const TWO_32 = 2 ** 32;

// Parser states.
const S_HEADER = 0;
const S_BODY = 1; // buffering a small chunk body (OFFSET_DATA offset, OFFSET_HOLE, BLOCK_STATUS, ERROR*)
const S_DATA = 2; // copying read data into the caller's buffer
const S_SKIP = 3; // discarding read data of an abandoned request

interface Request {
  cookie: number;
  type: number;
  offset: number;
  length: number;
  /** READ: where the data goes, and the position in `target` that corresponds to `offset`. */
  target: Buffer | undefined;
  base: number;
  /** READ: bytes delivered by data and hole chunks. */
  covered: number;
  /** BLOCK_STATUS: raw descriptor lists by context id. */
  status: Array<{ contextId: number; descriptors: Buffer }>;
  error: Error | undefined;
  sent: boolean;
  /** Rejected early (timeout/abort/sibling failure): its reply is read and discarded. */
  abandoned: boolean;
  settled: boolean;
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4);
}

function writeU64(buf: Buffer, at: number, value: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32), at);
  buf.writeUInt32BE(value % TWO_32, at + 4);
}

function optionName(option: number): string {
  for (const [name, value] of Object.entries(OPT)) if (value === option) return `NBD_OPT_${name}`;
  return `NBD_OPT_${option}`;
}

export class NbdClient {
  /** Export size in bytes. */
  size = 0;
  /** NBD transmission flags (see TFLAG). */
  transmissionFlags = 0;
  /** Block size constraints (defaults when the server sent no NBD_INFO_BLOCK_SIZE). */
  blockSize: NbdBlockSize = { minimum: 1, preferred: 4096, maximum: CLIENT_MAX_REQUEST };
  /** Whether structured replies were negotiated (required for block status). */
  structuredReplies = false;
  /** Negotiated meta contexts: name → server-chosen id. */
  readonly contexts = new Map<string, number>();
  /** Bytes of read data received (data chunks only; holes and block status are not counted). */
  bytesReceived = 0;

  readonly #socket: Socket;
  readonly #readBuffer: Buffer;
  readonly #queueDepth: number;
  readonly #timeoutMs: number;
  #maxRequest = CLIENT_MAX_REQUEST;
  #contextNames = new Map<number, string>();

  // Handshake-phase byte queue.
  #handshaking = true;
  #hsChunks: Buffer[] = [];
  #hsBuffered = 0;
  #hsWaiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;

  // Transmission state.
  #nextCookie = 1;
  readonly #inFlight = new Map<number, Request>();
  readonly #waiting: Request[] = [];
  #dead: Error | undefined;
  #socketError: Error | undefined;
  #closing: Promise<void> | undefined;
  #closed: Promise<void>;

  // Parser state.
  #state = S_HEADER;
  readonly #header = Buffer.alloc(20);
  #headerHave = 0;
  #headerNeed = 4;
  #cur: Request | undefined;
  #curType = 0;
  #curFlags = 0;
  #curLength = 0;
  #body: Buffer = Buffer.alloc(0);
  #bodyHave = 0;
  #remaining = 0;
  #dest: Buffer | undefined;
  #destPos = 0;

  private constructor(socket: Socket, readBuffer: Buffer, options: NbdConnectOptions) {
    this.#socket = socket;
    this.#readBuffer = readBuffer;
    this.#queueDepth = Math.max(1, options.queueDepth ?? DEFAULT_QUEUE_DEPTH);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', (error) => {
      this.#socketError ??= error;
    });
    socket.on('close', () => this.#onSocketClose());
  }

  /** Connects to `socketPath`, negotiates and opens the export. */
  static async connect(options: NbdConnectOptions): Promise<NbdClient> {
    const readBuffer = Buffer.allocUnsafe(options.readBufferSize ?? DEFAULT_READ_BUFFER);
    let client: NbdClient | undefined;
    const socket = createConnection({
      path: options.socketPath,
      onread: {
        buffer: readBuffer,
        callback: (n: number) => {
          if (client) client.#onBytes(n);
          return true;
        },
      },
    });
    client = new NbdClient(socket, readBuffer, options);
    const c = client;
    const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (error: NodeJS.ErrnoException) =>
          reject(new NbdConnectionError(error.code ?? 'ECONNREFUSED', `cannot connect to NBD socket ${options.socketPath}: ${error.message}`, { cause: error })),
        );
      });
      const failure = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NbdTimeoutError(`NBD handshake with ${options.socketPath} took longer than ${timeoutMs} ms`)), timeoutMs);
        if (options.signal) {
          onAbort = () => reject(new NbdAbortError('NBD handshake aborted', { cause: options.signal?.reason }));
          if (options.signal.aborted) onAbort();
          else options.signal.addEventListener('abort', onAbort, { once: true });
        }
      });
      await Promise.race([c.#handshake(options.exportName ?? '', options.metaContexts ?? []), failure]);
      return c;
    } catch (error) {
      c.#fail(error instanceof Error ? error : new Error(String(error)));
      throw error;
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    }
  }

  get readOnly(): boolean {
    return (this.transmissionFlags & TFLAG.READ_ONLY) !== 0;
  }

  get canMultiConn(): boolean {
    return (this.transmissionFlags & TFLAG.CAN_MULTI_CONN) !== 0;
  }

  /** Largest length sent in one NBD_CMD_READ (server maximum, capped at 32 MiB, a multiple of the minimum). */
  get maxRequestLength(): number {
    return this.#maxRequest;
  }

  /** Requests sent and not yet answered, including abandoned ones. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Handshake

  #onBytes(n: number): void {
    if (n <= 0) return;
    if (this.#handshaking) {
      this.#hsChunks.push(Buffer.from(this.#readBuffer.subarray(0, n)));
      this.#hsBuffered += n;
      this.#wakeHandshake();
      return;
    }
    this.#parse(this.#readBuffer, 0, n);
  }

  #wakeHandshake(): void {
    const waiter = this.#hsWaiter;
    if (!waiter || this.#hsBuffered < waiter.n) return;
    this.#hsWaiter = undefined;
    const all = this.#hsChunks.length === 1 ? this.#hsChunks[0]! : Buffer.concat(this.#hsChunks);
    const out = all.subarray(0, waiter.n);
    const rest = all.subarray(waiter.n);
    this.#hsChunks = rest.length > 0 ? [rest] : [];
    this.#hsBuffered = rest.length;
    waiter.resolve(out);
  }

  #readExact(n: number): Promise<Buffer> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#hsWaiter = { n, resolve, reject };
      this.#wakeHandshake();
    });
  }

  #sendOption(option: number, data: Buffer): void {
    const head = Buffer.allocUnsafe(16);
    head.writeBigUInt64BE(IHAVEOPT, 0);
    head.writeUInt32BE(option, 8);
    head.writeUInt32BE(data.length, 12);
    this.#socket.write(data.length > 0 ? Buffer.concat([head, data]) : head);
  }

  async #readOptionReply(option: number): Promise<{ type: number; data: Buffer }> {
    const head = await this.#readExact(20);
    if (head.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) throw new NbdProtocolError(`bad option reply magic for ${optionName(option)}`);
    const echoed = head.readUInt32BE(8);
    if (echoed !== option) throw new NbdProtocolError(`option reply for ${optionName(echoed)} while waiting for ${optionName(option)}`);
    const type = head.readUInt32BE(12);
    const length = head.readUInt32BE(16);
    if (length > MAX_OPTION_REPLY) throw new NbdProtocolError(`option reply of ${length} bytes for ${optionName(option)}`);
    const data = length > 0 ? await this.#readExact(length) : Buffer.alloc(0);
    return { type, data };
  }

  #optionError(option: number, reply: { type: number; data: Buffer }): NbdOptionError {
    const name = REP_ERR_NAMES[reply.type] ?? `NBD_REP_ERR_${reply.type - REP_ERR_BIT}`;
    return new NbdOptionError(optionName(option), name, reply.data.toString('utf8'));
  }

  async #handshake(exportName: string, metaContexts: readonly string[]): Promise<void> {
    const hello = await this.#readExact(16);
    if (hello.readBigUInt64BE(0) !== NBD_MAGIC) throw new NbdProtocolError('not an NBD server (no NBDMAGIC)');
    const style = hello.readBigUInt64BE(8);
    if (style === OLDSTYLE_MAGIC) throw new NbdProtocolError('oldstyle NBD servers are not supported');
    if (style !== IHAVEOPT) throw new NbdProtocolError('bad newstyle magic');
    const serverFlags = (await this.#readExact(2)).readUInt16BE(0);
    if ((serverFlags & FLAG_FIXED_NEWSTYLE) === 0) throw new NbdProtocolError('server does not support fixed newstyle negotiation');
    const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
    const clientFlags = Buffer.allocUnsafe(4);
    clientFlags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0));
    this.#socket.write(clientFlags);

    this.#sendOption(OPT.STRUCTURED_REPLY, Buffer.alloc(0));
    const sr = await this.#readOptionReply(OPT.STRUCTURED_REPLY);
    if (sr.type === REP.ACK) this.structuredReplies = true;
    else if ((sr.type & REP_ERR_BIT) === 0) throw new NbdProtocolError(`unexpected reply ${sr.type} to NBD_OPT_STRUCTURED_REPLY`);

    const name = Buffer.from(exportName, 'utf8');
    if (this.structuredReplies && metaContexts.length > 0) {
      const queries = metaContexts.map((q) => Buffer.from(q, 'utf8'));
      const data = Buffer.allocUnsafe(8 + name.length + queries.reduce((s, q) => s + 4 + q.length, 0));
      let at = data.writeUInt32BE(name.length, 0);
      at += name.copy(data, at);
      at = data.writeUInt32BE(queries.length, at);
      for (const q of queries) {
        at = data.writeUInt32BE(q.length, at);
        at += q.copy(data, at);
      }
      this.#sendOption(OPT.SET_META_CONTEXT, data);
      for (;;) {
        const reply = await this.#readOptionReply(OPT.SET_META_CONTEXT);
        if (reply.type === REP.ACK) break;
        if (reply.type === REP.META_CONTEXT) {
          if (reply.data.length < 4) throw new NbdProtocolError('short NBD_REP_META_CONTEXT');
          const id = reply.data.readUInt32BE(0);
          const contextName = reply.data.toString('utf8', 4);
          this.contexts.set(contextName, id);
          this.#contextNames.set(id, contextName);
          continue;
        }
        if (reply.type === REP_ERR_UNSUP) break;
        if ((reply.type & REP_ERR_BIT) !== 0) throw this.#optionError(OPT.SET_META_CONTEXT, reply);
        throw new NbdProtocolError(`unexpected reply ${reply.type} to NBD_OPT_SET_META_CONTEXT`);
      }
    }

    const go = Buffer.allocUnsafe(4 + name.length + 4);
    let at = go.writeUInt32BE(name.length, 0);
    at += name.copy(go, at);
    at = go.writeUInt16BE(1, at);
    go.writeUInt16BE(INFO.BLOCK_SIZE, at);
    this.#sendOption(OPT.GO, go);
    let gotExport = false;
    for (;;) {
      const reply = await this.#readOptionReply(OPT.GO);
      if (reply.type === REP.ACK) break;
      if (reply.type === REP.INFO) {
        if (reply.data.length < 2) throw new NbdProtocolError('short NBD_REP_INFO');
        const info = reply.data.readUInt16BE(0);
        if (info === INFO.EXPORT) {
          if (reply.data.length < 12) throw new NbdProtocolError('short NBD_INFO_EXPORT');
          this.size = readU64(reply.data, 2);
          this.transmissionFlags = reply.data.readUInt16BE(10);
          gotExport = true;
        } else if (info === INFO.BLOCK_SIZE) {
          if (reply.data.length < 14) throw new NbdProtocolError('short NBD_INFO_BLOCK_SIZE');
          const minimum = reply.data.readUInt32BE(2);
          const preferred = reply.data.readUInt32BE(6);
          const maximum = reply.data.readUInt32BE(10);
          if (minimum >= 1 && maximum >= minimum) this.blockSize = { minimum, preferred, maximum };
        }
        continue;
      }
      if (reply.type === REP_ERR_UNSUP) {
        await this.#exportNameFallback(name, noZeroes);
        gotExport = true;
        break;
      }
      if ((reply.type & REP_ERR_BIT) !== 0) throw this.#optionError(OPT.GO, reply);
      throw new NbdProtocolError(`unexpected reply ${reply.type} to NBD_OPT_GO`);
    }
    if (!gotExport) throw new NbdProtocolError('server sent no NBD_INFO_EXPORT');
    const min = this.blockSize.minimum;
    const max = Math.min(this.blockSize.maximum, CLIENT_MAX_REQUEST);
    this.#maxRequest = Math.max(min, max - (max % min));

    this.#handshaking = false;
    const leftover = this.#hsChunks;
    this.#hsChunks = [];
    this.#hsBuffered = 0;
    for (const chunk of leftover) this.#parse(chunk, 0, chunk.length);
  }

  async #exportNameFallback(name: Buffer, noZeroes: boolean): Promise<void> {
    this.#sendOption(OPT.EXPORT_NAME, name);
    const reply = await this.#readExact(noZeroes ? 10 : 134);
    this.size = readU64(reply, 0);
    this.transmissionFlags = reply.readUInt16BE(8);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Requests

  /**
   * Reads `length` bytes at `offset` into `target[targetOffset ..)`. Long reads are split at maxRequestLength and
   * pipelined; reads not aligned to the server's minimum block size go through a bounce buffer.
   */
  async read(offset: number, length: number, target: Buffer, options: NbdRequestOptions & { targetOffset?: number } = {}): Promise<void> {
    const targetOffset = options.targetOffset ?? 0;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new RangeError(`invalid read range ${offset}+${length}`);
    }
    if (offset + length > this.size) throw new RangeError(`read ${offset}+${length} is beyond the export size ${this.size}`);
    if (targetOffset < 0 || targetOffset + length > target.length) throw new RangeError(`target buffer too small for ${length} bytes`);
    if (length === 0) return;
    const min = this.blockSize.minimum;
    if (min > 1 && (offset % min !== 0 || length % min !== 0)) {
      const start = offset - (offset % min);
      const end = Math.min(this.size, Math.ceil((offset + length) / min) * min);
      const bounce = Buffer.allocUnsafe(end - start);
      await this.read(start, end - start, bounce, options);
      bounce.copy(target, targetOffset, offset - start, offset - start + length);
      return;
    }
    const pieces: Request[] = [];
    for (let done = 0; done < length; done += this.#maxRequest) {
      pieces.push(this.#submit(CMD.READ, offset + done, Math.min(this.#maxRequest, length - done), target, targetOffset + done, options));
    }
    if (pieces.length === 1) return pieces[0]!.promise;
    try {
      await Promise.all(pieces.map((p) => p.promise));
    } catch (error) {
      // Nothing may write into the caller's buffer once this read has failed.
      for (const piece of pieces) this.#abandon(piece, error as Error);
      throw error;
    }
  }

  /**
   * One NBD_CMD_BLOCK_STATUS: the extents each negotiated context reported for a prefix of [offset, offset+length),
   * clipped to that range. Different contexts may cover different prefixes.
   */
  async blockStatusOnce(offset: number, length: number, options: NbdRequestOptions = {}): Promise<Map<string, NbdExtent[]>> {
    if (!this.structuredReplies || this.contexts.size === 0) {
      throw new NbdError('ENOTSUP', 'block status needs structured replies and at least one negotiated meta context');
    }
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0 || offset + length > this.size) {
      throw new RangeError(`invalid block status range ${offset}+${length} (export size ${this.size})`);
    }
    const min = this.blockSize.minimum;
    let ask = Math.min(length, MAX_BLOCK_STATUS_LENGTH);
    if (ask < length) ask -= ask % min;
    const request = this.#submit(CMD.BLOCK_STATUS, offset, ask, undefined, 0, options);
    await request.promise;
    const end = offset + ask;
    const result = new Map<string, NbdExtent[]>();
    for (const { contextId, descriptors } of request.status) {
      const name = this.#contextNames.get(contextId);
      if (name === undefined) throw new NbdProtocolError(`block status for unknown context id ${contextId}`);
      const extents: NbdExtent[] = [];
      let pos = offset;
      for (let at = 0; at + 8 <= descriptors.length && pos < end; at += 8) {
        const len = descriptors.readUInt32BE(at);
        const flags = descriptors.readUInt32BE(at + 4);
        if (len === 0) throw new NbdProtocolError(`zero-length block status extent at ${pos} for ${name}`);
        const clipped = Math.min(len, end - pos);
        extents.push({ offset: pos, length: clipped, flags });
        pos += clipped;
      }
      result.set(name, extents);
    }
    return result;
  }

  /**
   * The extents of one meta context over [offset, offset+length), asking the server as often as needed and
   * merging adjacent extents with equal flags.
   */
  async *blockStatus(context: string, offset = 0, length?: number, options: NbdRequestOptions = {}): AsyncGenerator<NbdExtent> {
    if (!this.contexts.has(context)) throw new NbdError('ENOTSUP', `meta context ${context} was not negotiated`);
    const end = offset + (length ?? this.size - offset);
    let pos = offset;
    let pending: NbdExtent | undefined;
    while (pos < end) {
      const extents = (await this.blockStatusOnce(pos, end - pos, options)).get(context);
      if (!extents || extents.length === 0) throw new NbdProtocolError(`block status at ${pos} returned no extents for ${context}`);
      for (const extent of extents) {
        if (pending && pending.flags === extent.flags) {
          pending.length += extent.length;
        } else {
          if (pending) yield pending;
          pending = { ...extent };
        }
      }
      const last = extents[extents.length - 1]!;
      pos = last.offset + last.length;
    }
    if (pending) yield pending;
  }

  #submit(type: number, offset: number, length: number, target: Buffer | undefined, base: number, options: NbdRequestOptions): Request {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const request: Request = {
      cookie: 0,
      type,
      offset,
      length,
      target,
      base,
      covered: 0,
      status: [],
      error: undefined,
      sent: false,
      abandoned: false,
      settled: false,
      promise,
      resolve,
      reject,
      timer: undefined,
      signal: options.signal,
      onAbort: undefined,
    };
    const gone = this.#dead ?? (this.#closing ? new NbdConnectionError('ECLOSED', 'NBD client is closing') : undefined);
    if (gone) {
      this.#settle(request, gone);
      return request;
    }
    if (options.signal?.aborted) {
      this.#settle(request, new NbdAbortError(`${CMD_NAMES[type]} aborted`, { cause: options.signal.reason }));
      return request;
    }
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    if (timeoutMs > 0) {
      request.timer = setTimeout(
        () => this.#abandon(request, new NbdTimeoutError(`${CMD_NAMES[type]} ${length} bytes at ${offset} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
    }
    if (options.signal) {
      const signal = options.signal;
      request.onAbort = () => this.#abandon(request, new NbdAbortError(`${CMD_NAMES[type]} ${length} bytes at ${offset} aborted`, { cause: signal.reason }));
      signal.addEventListener('abort', request.onAbort, { once: true });
    }
    this.#waiting.push(request);
    this.#pump();
    return request;
  }

  #pump(): void {
    if (this.#dead || this.#waiting.length === 0 || this.#inFlight.size >= this.#queueDepth) return;
    const many = this.#waiting.length > 1 && this.#queueDepth - this.#inFlight.size > 1;
    if (many) this.#socket.cork();
    while (this.#waiting.length > 0 && this.#inFlight.size < this.#queueDepth) {
      this.#send(this.#waiting.shift()!);
    }
    if (many) this.#socket.uncork();
  }

  #send(request: Request): void {
    request.cookie = this.#nextCookie++;
    request.sent = true;
    this.#inFlight.set(request.cookie, request);
    const header = Buffer.allocUnsafe(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(0, 4);
    header.writeUInt16BE(request.type, 6);
    writeU64(header, 8, request.cookie);
    writeU64(header, 16, request.offset);
    header.writeUInt32BE(request.length, 24);
    this.#socket.write(header);
  }

  #settle(request: Request, error?: Error): void {
    if (request.settled) return;
    request.settled = true;
    clearTimeout(request.timer);
    if (request.onAbort) request.signal?.removeEventListener('abort', request.onAbort);
    if (error) request.reject(error);
    else request.resolve();
  }

  /** Rejects a request now; if it is on the wire its reply will be read and dropped. */
  #abandon(request: Request, error: Error): void {
    if (request.settled) return;
    if (!request.sent) {
      const at = this.#waiting.indexOf(request);
      if (at >= 0) this.#waiting.splice(at, 1);
    }
    request.abandoned = true;
    this.#settle(request, error);
  }

  #complete(request: Request): void {
    this.#inFlight.delete(request.cookie);
    if (!request.settled) {
      if (request.error) this.#settle(request, request.error);
      else if (request.type === CMD.READ && request.covered !== request.length) {
        this.#settle(
          request,
          new NbdProtocolError(`short read: the server answered ${request.covered} of ${request.length} bytes at ${request.offset}`),
        );
      } else this.#settle(request);
    }
    this.#pump();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reply parser

  #parse(buf: Buffer, pos: number, end: number): void {
    while (pos < end && !this.#dead) {
      switch (this.#state) {
        case S_HEADER: {
          const n = Math.min(this.#headerNeed - this.#headerHave, end - pos);
          buf.copy(this.#header, this.#headerHave, pos, pos + n);
          this.#headerHave += n;
          pos += n;
          if (this.#headerHave < this.#headerNeed) break;
          if (this.#headerNeed === 4) {
            const magic = this.#header.readUInt32BE(0);
            if (magic === STRUCTURED_REPLY_MAGIC) this.#headerNeed = 20;
            else if (magic === SIMPLE_REPLY_MAGIC) this.#headerNeed = 16;
            else return this.#protocolFailure(`bad reply magic 0x${magic.toString(16)}`);
            break;
          }
          this.#onHeader();
          break;
        }
        case S_BODY: {
          const n = Math.min(this.#body.length - this.#bodyHave, end - pos);
          buf.copy(this.#body, this.#bodyHave, pos, pos + n);
          this.#bodyHave += n;
          pos += n;
          if (this.#bodyHave === this.#body.length) this.#onBody();
          break;
        }
        case S_DATA: {
          const n = Math.min(this.#remaining, end - pos);
          buf.copy(this.#dest!, this.#destPos, pos, pos + n);
          this.#destPos += n;
          this.#remaining -= n;
          pos += n;
          if (this.#remaining === 0) this.#endChunk();
          break;
        }
        case S_SKIP: {
          const n = Math.min(this.#remaining, end - pos);
          this.#remaining -= n;
          pos += n;
          if (this.#remaining === 0) this.#endChunk();
          break;
        }
      }
    }
  }

  #onHeader(): void {
    const h = this.#header;
    const structured = this.#headerNeed === 20;
    const cookie = readU64(h, 8);
    const request = this.#inFlight.get(cookie);
    if (!request) return this.#protocolFailure(`reply for unknown cookie ${cookie}`);
    this.#cur = request;
    if (!structured) {
      this.#curFlags = REPLY_FLAG_DONE;
      this.#curType = -1;
      const errno = h.readUInt32BE(4);
      if (errno !== 0) {
        request.error ??= new NbdCommandError(errno, errnoName(errno), CMD_NAMES[request.type] ?? '?', request, '');
        return this.#endChunk();
      }
      if (request.type === CMD.READ) return this.#startData(request, 0, request.length);
      if (request.type === CMD.BLOCK_STATUS) return this.#protocolFailure('simple reply to NBD_CMD_BLOCK_STATUS');
      return this.#endChunk();
    }
    this.#curFlags = h.readUInt16BE(4);
    const type = h.readUInt16BE(6);
    const length = h.readUInt32BE(16);
    this.#curType = type;
    this.#curLength = length;
    switch (type) {
      case CHUNK.NONE:
        if (length !== 0) return this.#protocolFailure('NBD_REPLY_TYPE_NONE with a payload');
        if ((this.#curFlags & REPLY_FLAG_DONE) === 0) return this.#protocolFailure('NBD_REPLY_TYPE_NONE without the DONE flag');
        return this.#endChunk();
      case CHUNK.OFFSET_DATA:
        if (request.type !== CMD.READ || length < 8) return this.#protocolFailure(`bad NBD_REPLY_TYPE_OFFSET_DATA (length ${length})`);
        return this.#startBody(8);
      case CHUNK.OFFSET_HOLE:
        if (request.type !== CMD.READ || length !== 12) return this.#protocolFailure(`bad NBD_REPLY_TYPE_OFFSET_HOLE (length ${length})`);
        return this.#startBody(12);
      case CHUNK.BLOCK_STATUS:
        if (request.type !== CMD.BLOCK_STATUS || length < 12 || (length - 4) % 8 !== 0 || length > MAX_BLOCK_STATUS_CHUNK) {
          return this.#protocolFailure(`bad NBD_REPLY_TYPE_BLOCK_STATUS (length ${length})`);
        }
        return this.#startBody(length);
      default:
        if ((type & CHUNK_ERROR_BIT) === 0) return this.#protocolFailure(`unknown reply chunk type ${type}`);
        if (length < 6 || length > MAX_ERROR_CHUNK) return this.#protocolFailure(`bad error chunk (length ${length})`);
        return this.#startBody(length);
    }
  }

  #startBody(n: number): void {
    this.#body = Buffer.allocUnsafe(n);
    this.#bodyHave = 0;
    this.#state = S_BODY;
  }

  #onBody(): void {
    const request = this.#cur!;
    const body = this.#body;
    switch (this.#curType) {
      case CHUNK.OFFSET_DATA: {
        const dataLength = this.#curLength - 8;
        const rel = readU64(body, 0) - request.offset;
        if (rel < 0 || rel + dataLength > request.length) {
          return this.#protocolFailure(`data chunk at ${rel + request.offset}+${dataLength} outside the read ${request.offset}+${request.length}`);
        }
        return this.#startData(request, rel, dataLength);
      }
      case CHUNK.OFFSET_HOLE: {
        const rel = readU64(body, 0) - request.offset;
        const size = body.readUInt32BE(8);
        if (rel < 0 || rel + size > request.length) {
          return this.#protocolFailure(`hole chunk at ${rel + request.offset}+${size} outside the read ${request.offset}+${request.length}`);
        }
        request.covered += size;
        if (!request.abandoned) request.target!.fill(0, request.base + rel, request.base + rel + size);
        return this.#endChunk();
      }
      case CHUNK.BLOCK_STATUS:
        request.status.push({ contextId: body.readUInt32BE(0), descriptors: body.subarray(4) });
        return this.#endChunk();
      default: {
        const errno = body.readUInt32BE(0);
        const messageLength = body.readUInt16BE(4);
        if (6 + messageLength > body.length) return this.#protocolFailure('error chunk message overruns the chunk');
        const message = body.toString('utf8', 6, 6 + messageLength);
        let at: number | undefined;
        if (this.#curType === CHUNK.ERROR_OFFSET) {
          if (body.length < 6 + messageLength + 8) return this.#protocolFailure('NBD_REPLY_TYPE_ERROR_OFFSET without an offset');
          at = readU64(body, 6 + messageLength);
        }
        request.error ??= new NbdCommandError(errno, errnoName(errno), CMD_NAMES[request.type] ?? '?', request, message, at);
        return this.#endChunk();
      }
    }
  }

  #startData(request: Request, rel: number, n: number): void {
    request.covered += n;
    this.bytesReceived += n;
    if (n === 0) return this.#endChunk();
    this.#remaining = n;
    if (request.abandoned) {
      this.#state = S_SKIP;
    } else {
      this.#dest = request.target;
      this.#destPos = request.base + rel;
      this.#state = S_DATA;
    }
  }

  #endChunk(): void {
    const request = this.#cur!;
    this.#state = S_HEADER;
    this.#headerHave = 0;
    this.#headerNeed = 4;
    this.#cur = undefined;
    this.#dest = undefined;
    if (this.#body.length > 0) this.#body = Buffer.alloc(0);
    if ((this.#curFlags & REPLY_FLAG_DONE) !== 0) this.#complete(request);
  }

  #protocolFailure(message: string): void {
    this.#fail(new NbdProtocolError(message));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Teardown

  /** Marks the connection dead, rejects everything pending with `error` and drops the socket. */
  #fail(error: Error): void {
    if (this.#dead) return;
    this.#dead = error;
    const waiter = this.#hsWaiter;
    this.#hsWaiter = undefined;
    waiter?.reject(error);
    const pending = [...this.#inFlight.values(), ...this.#waiting];
    this.#inFlight.clear();
    this.#waiting.length = 0;
    for (const request of pending) this.#settle(request, error);
    this.#socket.destroy();
  }

  #onSocketClose(): void {
    if (this.#dead) return;
    if (this.#closing && this.#inFlight.size === 0) {
      this.#fail(new NbdConnectionError('ECLOSED', 'NBD client closed'));
      return;
    }
    const live = [...this.#inFlight.values()].filter((r) => !r.abandoned).length;
    const where = this.#handshaking ? ' during the handshake' : live > 0 ? ` with ${live} request(s) in flight` : '';
    const cause = this.#socketError;
    this.#fail(
      new NbdConnectionError(
        'ECONNRESET',
        `NBD server closed the connection${where}${cause ? `: ${cause.message}` : ''}`,
        cause ? { cause } : undefined,
      ),
    );
  }

  /**
   * Waits for outstanding requests, sends NBD_CMD_DISC and closes the socket. New requests are refused at once.
   * Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const live = [...this.#inFlight.values(), ...this.#waiting].filter((r) => !r.settled).map((r) => r.promise);
      await Promise.allSettled(live);
      if (!this.#dead) {
        const disc = Buffer.alloc(28);
        disc.writeUInt32BE(REQUEST_MAGIC, 0);
        disc.writeUInt16BE(CMD.DISC, 6);
        writeU64(disc, 8, this.#nextCookie++);
        this.#socket.end(disc);
        const timer = setTimeout(() => this.#socket.destroy(), 2000);
        await this.#closed;
        clearTimeout(timer);
      }
      this.#fail(new NbdConnectionError('ECLOSED', 'NBD client closed'));
    })();
    return this.#closing;
  }

  /** Drops the connection now; pending requests are rejected. */
  destroy(error: Error = new NbdConnectionError('ECLOSED', 'NBD client destroyed')): void {
    this.#fail(error);
  }
}
