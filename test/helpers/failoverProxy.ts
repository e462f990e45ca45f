/**
 * A TCP front for a cluster test: what a load balancer with backup servers does (HAProxy's `backup`). Each new
 * connection goes to the first backend in the list that accepts it; one that refuses (a killed node) is skipped. A
 * connection whose backend dies is closed on both sides, so the client reconnects — and lands on the next node.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface FailoverProxy {
  url: string;
  /** Backends by preference: "host:port". */
  backends: string[];
  /** Which backend each accepted connection went to, in order. */
  connections: string[];
  close(): Promise<void>;
}

export async function startFailoverProxy(backends: string[]): Promise<FailoverProxy> {
  const sockets = new Set<Socket>();
  const connections: string[] = [];
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    const tryBackend = (index: number): void => {
      if (index >= backends.length) {
        client.destroy();
        return;
      }
      const [host, port] = backends[index]!.split(':');
      const upstream = createConnection({ host: host!, port: Number(port) });
      const refused = () => tryBackend(index + 1);
      upstream.once('error', refused);
      upstream.once('connect', () => {
        upstream.off('error', refused);
        connections.push(backends[index]!);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryBackend(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    backends,
    connections,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
