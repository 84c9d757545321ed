/**
 * WebSocket ping/pong: every interval each client is pinged; a client that has not answered the previous ping is
 * terminated (a dead peer behind a NAT or a suspended laptop would otherwise hold its subscription forever).
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket, WebSocketServer } from 'ws';

const kAlive = Symbol('gradloom.ws.alive');

type Tracked = WebSocket & { [kAlive]?: boolean };

export function startHeartbeat(wss: WebSocketServer, intervalMs: number): () => void {
  const onConnection = (ws: Tracked) => {
    ws[kAlive] = true;
    ws.on('pong', () => {
      ws[kAlive] = true;
    });
  };
  wss.on('connection', onConnection);
  const timer = setInterval(() => {
    for (const client of wss.clients as Set<Tracked>) {
      if (client[kAlive] === false) {
        client.terminate();
        continue;
      }
      client[kAlive] = false;
      try {
        client.ping();
      } catch {
        client.terminate();
      }
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    wss.off('connection', onConnection);
  };
}

/** Starts the heartbeat once the app is ready (when @fastify/websocket is registered) and stops it on close. */
export async function heartbeatPlugin(app: FastifyInstance, options: { intervalMs: number }): Promise<void> {
  let stop: (() => void) | null = null;
  app.addHook('onReady', async () => {
    const wss = (app as unknown as { websocketServer?: WebSocketServer }).websocketServer;
    if (wss) stop = startHeartbeat(wss, options.intervalMs);
  });
  app.addHook('onClose', async () => {
    stop?.();
  });
}
(heartbeatPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
export default heartbeatPlugin;
