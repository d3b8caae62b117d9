import { createServer, type RequestListener, type Server } from 'node:http';

/** Listens, and closes with its open connections (keep-alive ones included) on stop. */
export async function listen(app: RequestListener, port: number, host: string): Promise<{ url: string | undefined; stop(): Promise<void> }> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer(app).listen(port, host, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address();
  return {
    url: typeof addr === 'object' && addr ? `http://${host}:${addr.port}` : undefined,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
