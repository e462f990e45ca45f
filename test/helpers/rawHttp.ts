/**
 * HTTP at the socket level, for what fetch cannot do: announce a body and never send it (does the server answer
 * before reading it?), or hold a request open.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface OpenRequest {
  /** The answer, or 'timeout' if none came within the wait. */
  answer: Promise<RawAnswer | 'timeout'>;
  socket: Socket;
}

/**
 * Sends the request line, `headers` and `bodyPrefix`, but not the rest of the body its Content-Length announces.
 * The socket stays open until `close()` (or the answer, if `closeOnAnswer`).
 */
export function openRequest(
  baseUrl: string,
  request: { method: string; path: string; headers: Record<string, string>; bodyPrefix?: Buffer | string },
  waitMs = 5000,
): OpenRequest {
  const url = new URL(baseUrl);
  const socket = connect(Number(url.port), url.hostname);
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: ${url.host}`, ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`)];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (request.bodyPrefix !== undefined) socket.write(request.bodyPrefix);
  const answer = new Promise<RawAnswer | 'timeout'>((resolve) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => resolve('timeout'), waitMs);
    const tryParse = () => {
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...headerLines] = received.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (received.length < end + 4 + length) return;
      clearTimeout(timer);
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: received.subarray(end + 4, end + 4 + length).toString('utf8') });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      tryParse();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      tryParse();
      clearTimeout(timer);
      resolve('timeout');
    });
  });
  return { answer, socket };
}

/** openRequest, waiting for the answer and closing the socket. */
export async function announceBody(
  baseUrl: string,
  request: { method: string; path: string; headers: Record<string, string>; bodyPrefix?: Buffer | string },
  waitMs = 5000,
): Promise<RawAnswer | 'timeout'> {
  const open = openRequest(baseUrl, request, waitMs);
  try {
    return await open.answer;
  } finally {
    open.socket.destroy();
  }
}
