/**
 * The NBD client's reply parser (transmission phase): a small state machine over the bytes the socket delivers,
 * for simple and structured replies in any order and in any number of chunks. NBD_REPLY_TYPE_OFFSET_DATA
 * payloads are copied straight from the socket's read buffer into the caller's buffer (one copy, no intermediate
 * Buffers); OFFSET_HOLE chunks are zero-filled; BLOCK_STATUS bodies are kept for the caller; ERROR / ERROR_OFFSET
 * chunks and simple-reply errnos become NbdCommandError with the errno name. An abandoned request's data is read
 * and thrown away, never written into the caller's buffer.
 */
import { CHUNK, CHUNK_ERROR_BIT, CMD, CMD_NAMES, readU64, REPLY_FLAG_DONE, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC, errnoName } from './protocol.ts';
import { NbdCommandError } from './errors.ts';

/** Sanity limits on chunk bodies that are buffered whole (qemu caps block status at 128 Ki extents = 1 MiB). */
const MAX_BLOCK_STATUS_CHUNK = 64 * 1024 * 1024;
const MAX_ERROR_CHUNK = 1024 * 1024;

/** What the parser reads and fills in of a request on the wire. */
export interface RepliedRequest {
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
  /** The first error the server reported for it. */
  error: Error | undefined;
  /** Rejected early (timeout/abort/sibling failure): its reply is read and discarded. */
  abandoned: boolean;
}

export interface ReplyHooks<R extends RepliedRequest> {
  /** The request on the wire under this cookie. */
  request(cookie: number): R | undefined;
  /** A request's last chunk (the DONE flag) has been read. */
  complete(request: R): void;
  /** The server broke the protocol: the connection must go. The parser reads nothing more. */
  fail(message: string): void;
}

// Parser states.
const S_HEADER = 0;
const S_BODY = 1; // buffering a small chunk body (OFFSET_DATA offset, OFFSET_HOLE, BLOCK_STATUS, ERROR*)
const S_DATA = 2; // copying read data into the caller's buffer
const S_SKIP = 3; // discarding read data of an abandoned request

export class ReplyParser<R extends RepliedRequest> {
  /** Bytes of read data received (data chunks only; holes and block status are not counted). */
  bytesReceived = 0;

  readonly #hooks: ReplyHooks<R>;
  #failed = false;
  #state = S_HEADER;
  readonly #header = Buffer.alloc(20);
  #headerHave = 0;
  #headerNeed = 4;
  #cur: R | undefined;
  #curType = 0;
  #curFlags = 0;
  #curLength = 0;
  #body: Buffer = Buffer.alloc(0);
  #bodyHave = 0;
  #remaining = 0;
  #dest: Buffer | undefined;
  #destPos = 0;

  constructor(hooks: ReplyHooks<R>) {
    this.#hooks = hooks;
  }

  /** Consumes buf[pos, end). */
  parse(buf: Buffer, pos: number, end: number): void {
    while (pos < end && !this.#failed) {
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
    const request = this.#hooks.request(cookie);
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

  #startData(request: R, rel: number, n: number): void {
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
    if ((this.#curFlags & REPLY_FLAG_DONE) !== 0) this.#hooks.complete(request);
  }

  #protocolFailure(message: string): void {
    this.#failed = true;
    this.#hooks.fail(message);
  }
}
