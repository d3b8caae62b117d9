import type { Server } from 'node:http';
import type { Express } from 'express';

/** Listens, and closes with its open connections (keep-alive ones included) on stop. */
export async function listen(app: Express, port: number, host: string): Promise<{ url: string | undefined; stop(): Promise<void> }> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
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
