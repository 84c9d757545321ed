/**
 * Request and connection timeouts from the configuration reach Node's server: an idle or trickling client cannot
 * hold a socket forever (slowloris).
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE_KEY, makeHardenedApp, TWO_TENANTS, type HardenedApp } from './service.js';

const apps: HardenedApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function listening(env: Record<string, string>) {
  const h = await makeHardenedApp({ env: { API_KEYS: TWO_TENANTS, ...env } });
  apps.push(h);
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  return { h, port: (h.app.server.address() as { port: number }).port };
}

describe('timeouts', () => {
  it('applies REQUEST_TIMEOUT_MS and CONNECTION_TIMEOUT_MS to the server', async () => {
    const { h } = await listening({ REQUEST_TIMEOUT_MS: '7000', CONNECTION_TIMEOUT_MS: '9000' });
    expect(h.app.server.requestTimeout).toBe(7000);
    expect(h.app.server.headersTimeout).toBeLessThanOrEqual(7000);
    expect(h.app.server.timeout).toBe(9000);
  });

  it('closes a connection that stalls (idle, or mid-body) longer than CONNECTION_TIMEOUT_MS', async () => {
    const { port } = await listening({ CONNECTION_TIMEOUT_MS: '300' });
    for (const sent of [
      '', // connects and says nothing
      'POST /v1/jobs HTTP/1.1\r\nHost: x\r\n', // half the headers
      // the headers, then half the body it announced
      `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ALICE_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":`,
    ]) {
      const socket = connect(port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      if (sent) socket.write(sent);
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      const closed = await new Promise<boolean>((resolve) => {
        socket.once('close', () => resolve(true));
        setTimeout(() => resolve(false), 10_000).unref();
      });
      socket.destroy();
      expect(closed, JSON.stringify(sent)).toBe(true);
      expect(answer).toBe(''); // nothing was processed
    }
  });

  it('closes the connection after answering early (401, 415) instead of waiting for a body nobody reads', async () => {
    const { port } = await listening({ CONNECTION_TIMEOUT_MS: '60000' });
    for (const [sent, status] of [
      ['POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{', '401'],
      [`POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ALICE_KEY}\r\nContent-Type: application/xml\r\nContent-Length: 1000000\r\n\r\nx`, '415'],
    ] as const) {
      const socket = connect(port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.write(sent);
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      const closed = await new Promise<boolean>((resolve) => {
        socket.once('close', () => resolve(true));
        setTimeout(() => resolve(false), 10_000).unref();
      });
      socket.destroy();
      expect(answer.startsWith(`HTTP/1.1 ${status}`), answer.slice(0, 80)).toBe(true);
      expect(closed).toBe(true);
    }
  });
});
