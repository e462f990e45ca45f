/**
 * Ferry's NBD client: a read-only client for qemu-nbd / nbdkit over a Unix socket.
 *
 * The handshake (handshake.ts) negotiates structured replies, the meta contexts the caller asks for and the
 * export. Transmission: requests are pipelined up to `queueDepth` at a time; replies may come back in any order and
 * as several chunks each, so every request lives in a cookie → request map until its DONE chunk. The socket is read
 * with `onread` into one reusable buffer that the reply parser (replyParser.ts) copies read data from straight into
 * the caller's buffer.
 *
 * A request that times out or is aborted is rejected at once, but it still occupies its place in the map and in
 * the queue until the server's reply arrives; that reply is read and thrown away, never written into the
 * caller's buffer. If the server dies, every pending request is rejected with an NbdConnectionError.
 */
import { createConnection, type Socket } from 'node:net';
import { CMD, CMD_NAMES, REQUEST_MAGIC, TFLAG, writeU64 } from './protocol.ts';
import { NbdAbortError, NbdConnectionError, NbdError, NbdProtocolError, NbdTimeoutError } from './errors.ts';
import { HandshakeBytes, negotiate, type NbdBlockSize } from './handshake.ts';
import { ReplyParser, type RepliedRequest } from './replyParser.ts';

export type { NbdBlockSize } from './handshake.ts';

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

interface Request extends RepliedRequest {
  cookie: number;
  sent: boolean;
  settled: boolean;
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
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

  readonly #socket: Socket;
  readonly #readBuffer: Buffer;
  readonly #queueDepth: number;
  readonly #timeoutMs: number;
  #maxRequest = CLIENT_MAX_REQUEST;
  #contextNames = new Map<number, string>();

  /** What the server sent while the handshake runs; the reply parser takes over after it. */
  #handshaking = true;
  readonly #handshakeBytes = new HandshakeBytes();
  readonly #parser: ReplyParser<Request>;

  // Transmission state.
  #nextCookie = 1;
  readonly #inFlight = new Map<number, Request>();
  readonly #waiting: Request[] = [];
  #dead: Error | undefined;
  #socketError: Error | undefined;
  #closing: Promise<void> | undefined;
  #closed: Promise<void>;

  private constructor(socket: Socket, readBuffer: Buffer, options: NbdConnectOptions) {
    this.#socket = socket;
    this.#readBuffer = readBuffer;
    this.#queueDepth = Math.max(1, options.queueDepth ?? DEFAULT_QUEUE_DEPTH);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#parser = new ReplyParser<Request>({
      request: (cookie) => this.#inFlight.get(cookie),
      complete: (request) => this.#complete(request),
      fail: (message) => this.#fail(new NbdProtocolError(message)),
    });
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
      await Promise.race([c.#negotiate(options.exportName ?? '', options.metaContexts ?? []), failure]);
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


  /** Bytes of read data received (data chunks only; holes and block status are not counted). */
  get bytesReceived(): number {
    return this.#parser.bytesReceived;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Handshake

  #onBytes(n: number): void {
    if (n <= 0) return;
    if (this.#handshaking) {
      this.#handshakeBytes.push(Buffer.from(this.#readBuffer.subarray(0, n)));
      return;
    }
    if (!this.#dead) this.#parser.parse(this.#readBuffer, 0, n);
  }

  async #negotiate(exportName: string, metaContexts: readonly string[]): Promise<void> {
    const agreed = await negotiate(this.#handshakeBytes, (data) => this.#socket.write(data), exportName, metaContexts);
    this.size = agreed.size;
    this.transmissionFlags = agreed.transmissionFlags;
    if (agreed.blockSize) this.blockSize = agreed.blockSize;
    this.structuredReplies = agreed.structuredReplies;
    for (const [name, id] of agreed.contexts) {
      this.contexts.set(name, id);
      this.#contextNames.set(id, name);
    }
    const min = this.blockSize.minimum;
    const max = Math.min(this.blockSize.maximum, CLIENT_MAX_REQUEST);
    this.#maxRequest = Math.max(min, max - (max % min));

    this.#handshaking = false;
    for (const chunk of this.#handshakeBytes.takeRest()) if (!this.#dead) this.#parser.parse(chunk, 0, chunk.length);
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
  // Teardown

  /** Marks the connection dead, rejects everything pending with `error` and drops the socket. */
  #fail(error: Error): void {
    if (this.#dead) return;
    this.#dead = error;
    this.#handshakeBytes.fail(error);
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
