/**
 * Typed NBD client errors. Every one has a `code`: an NBD errno name (EIO, EINVAL, …) for errors the server
 * reported for a command, an NBD_REP_ERR_* name for a refused option, or a Node-style code otherwise.
 */

export class NbdError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NbdError';
    this.code = code;
  }
}

/** The server broke the protocol (bad magic, unknown cookie, malformed chunk, short read); the connection is dropped. */
export class NbdProtocolError extends NbdError {
  constructor(message: string, options?: ErrorOptions) {
    super('EPROTO', message, options);
    this.name = 'NbdProtocolError';
  }
}

/** The server refused a handshake option (`code` is the NBD_REP_ERR_* name). */
export class NbdOptionError extends NbdError {
  readonly option: string;
  readonly serverMessage: string;
  constructor(option: string, reply: string, serverMessage: string) {
    super(reply, `NBD option ${option} refused with ${reply}${serverMessage ? `: ${serverMessage}` : ''}`);
    this.name = 'NbdOptionError';
    this.option = option;
    this.serverMessage = serverMessage;
  }
}

/** The server answered a command with an error (simple reply errno, or an ERROR / ERROR_OFFSET chunk). */
export class NbdCommandError extends NbdError {
  readonly errno: number;
  readonly command: string;
  /** The request's range. */
  readonly requestOffset: number;
  readonly requestLength: number;
  /** The failing offset of an ERROR_OFFSET chunk. */
  readonly offset: number | undefined;
  readonly serverMessage: string;
  constructor(
    errno: number,
    errnoName: string,
    command: string,
    request: { offset: number; length: number },
    serverMessage: string,
    offset?: number,
  ) {
    const where = offset === undefined ? '' : ` at offset ${offset}`;
    super(
      errnoName,
      `${command} ${request.length} bytes at ${request.offset} failed with ${errnoName}${where}${serverMessage ? `: ${serverMessage}` : ''}`,
    );
    this.name = 'NbdCommandError';
    this.errno = errno;
    this.command = command;
    this.requestOffset = request.offset;
    this.requestLength = request.length;
    this.offset = offset;
    this.serverMessage = serverMessage;
  }
}

/** A request did not complete within its timeout. The connection stays usable; a late reply is discarded. */
export class NbdTimeoutError extends NbdError {
  constructor(message: string) {
    super('ETIMEDOUT', message);
    this.name = 'NbdTimeoutError';
  }
}

/** The caller's AbortSignal fired. The connection stays usable; a late reply is discarded. */
export class NbdAbortError extends NbdError {
  constructor(message: string, options?: ErrorOptions) {
    super('ABORT_ERR', message, options);
    this.name = 'NbdAbortError';
  }
}

/** Could not connect, or the connection is gone (server died, socket error, client closed). */
export class NbdConnectionError extends NbdError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'NbdConnectionError';
  }
}
