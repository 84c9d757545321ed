/**
 * GET /v1/jobs/:id/stream (WebSocket): every epoch so far, then live epochs, then one final status, then close.
 * The manager owns the fan-out and the slow-consumer policy (a bounded buffer per subscriber, measured with
 * bufferedAmount; a subscriber too far behind gets a 'dropped' message instead of the skipped epochs and still gets
 * the final status). This route only adapts a socket to the manager's subscriber interface.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { WebSocket } from 'ws';
import type { StreamMessage } from '../jobs/types.js';
import { ApiError, notFound } from '../plugins/errors.js';
import { errors, idParamsSchema } from '../schemas/common.js';
import { streamMessageSchema, streamQuerySchema } from '../schemas/jobs.js';
import { finiteOrNull, logJobId } from './job-views.js';

/** Close codes: 1000 after the final status; 4404 when the job vanished between the handshake and the subscription. */
export const STREAM_CLOSE_NOT_FOUND = 4404;

function toWire(message: StreamMessage): StreamMessage | { type: 'epoch'; epoch: number; loss: number | null; valLoss?: number | null } {
  if (message.type === 'epoch') {
    return message.valLoss === undefined
      ? { type: 'epoch', epoch: message.epoch, loss: finiteOrNull(message.loss) }
      : { type: 'epoch', epoch: message.epoch, loss: finiteOrNull(message.loss), valLoss: finiteOrNull(message.valLoss) };
  }
  if (message.type === 'status') return { ...message, lastLoss: finiteOrNull(message.lastLoss) };
  return message;
}

/**
 * A message's frame payload, encoded once however many subscribers it goes to: the hub hands every subscriber of a job
 * the same message objects, and with hundreds of subscribers the per-socket JSON.stringify and UTF-8 copy were a
 * large share of the fan-out (bench/load.ts).
 */
const wireBytes = new WeakMap<StreamMessage, Buffer>();
function encode(message: StreamMessage): Buffer {
  let bytes = wireBytes.get(message);
  if (bytes === undefined) {
    bytes = Buffer.from(JSON.stringify(toWire(message)), 'utf8');
    wireBytes.set(message, bytes);
  }
  return bytes;
}

export const streamRoutes: FastifyPluginAsyncZod = async (app) => {
  const { manager } = app.gradloom;

  // `wsHandler` (not `websocket: true`, which hides the route from the OpenAPI document) takes the upgrades; plain
  // GETs get 426 from `handler`.
  app.route({
    method: 'GET',
    url: '/jobs/:id/stream',
      schema: {
        tags: ['jobs'],
        summary: 'Live loss stream (WebSocket)',
        description:
          'Upgrade to a WebSocket. Each text frame is one JSON StreamMessage: first every epoch already finished (a late ' +
          'subscriber misses nothing), then live `{type: "epoch", epoch, loss}` (and `valLoss` with validation), then one `{type: "status", ...}` with the ' +
          'final status, then the server closes with 1000. A subscriber that falls more than STREAM_BUFFER_MESSAGES behind ' +
          'gets `{type: "dropped", count, reason}` in place of the epochs it missed (GET /metrics has them all) and still ' +
          'gets the final status; it never slows training or other subscribers. Unknown job: 404 before the upgrade. ' +
          'With `?from=k` the replay starts at epoch k (for a client that reconnects).',
        params: idParamsSchema,
        querystring: streamQuerySchema,
        response: { 101: streamMessageSchema.describe('Switching protocols; frames are StreamMessages'), ...errors(400, 404, 426) },
      },
      preValidation: async (request, reply) => {
        const { id } = request.params as { id: string };
        logJobId(request, reply);
        if (!(await manager.get(request.tenant, id))) throw notFound('job', id);
      },
    handler: async (request) => {
      throw new ApiError(426, 'upgrade_required', `GET ${request.url.split('?')[0]} is a WebSocket: connect with a WebSocket client (Upgrade: websocket)`, {}, { upgrade: 'websocket' });
    },
    wsHandler: (socket, request) => {
      const { id } = request.params;
      const { from } = request.query;
      let unsubscribe: (() => void) | null = null;
      let closed = false;
      // The hub delivers a batch of epochs (and a replay) synchronously; corking the TCP socket until the next tick
      // turns them into one write instead of one syscall per frame, which otherwise dominates the event loop with
      // hundreds of subscribers (measured by bench/load.ts).
      const tcp = (socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
      let corked = false;
      const uncork = () => {
        corked = false;
        tcp?.uncork();
      };
      socket.on('message', () => {
        // The stream is one-way; input from clients is ignored.
      });
      socket.on('close', () => {
        closed = true;
        unsubscribe?.();
        unsubscribe = null;
      });
      socket.on('error', (err) => request.log.warn({ err }, 'stream socket error'));

      manager
        .subscribe(request.tenant, id, {
          send(message) {
            if (socket.readyState !== WebSocket.OPEN) return false;
            if (!corked && tcp) {
              corked = true;
              tcp.cork();
              process.nextTick(uncork);
            }
            socket.send(encode(message), { binary: false });
            return true;
          },
          close() {
            if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(1000, 'stream complete');
          },
          bufferedAmount: () => socket.bufferedAmount,
        }, from)
        .then((stop) => {
          if (stop === null) {
            socket.close(STREAM_CLOSE_NOT_FOUND, `job ${id} not found`);
          } else if (closed) {
            stop();
          } else {
            unsubscribe = stop;
          }
        })
        .catch((err: unknown) => {
          request.log.error({ err }, 'subscribe failed');
          socket.close(1011, 'internal error');
        });
    },
  });
};
