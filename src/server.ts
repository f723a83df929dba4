/**
 * The HTTP server's life cycle: create (context + app), start (listen), destroy (stop accepting,
 * drain in-flight requests, drain inference, close the database), in that order.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import type { Config } from './config.js';
import { AppContext, type ContextOverrides } from './context.js';
import { createApp } from './http/app.js';
import { bundlePages } from './http/pages/bundle.js';

/** How long the listener must see no new connection and no new request before it closes, while shutting down. */
export const SHUTDOWN_QUIET_MS = 150;

export class ModtuneServer {
  private server: http.Server | null = null;
  /** When the last connection was accepted or request arrived. */
  private lastActivity = 0;

  private constructor(
    readonly ctx: AppContext,
    readonly app: express.Express,
  ) {}

  static async create(config: Config, overrides: ContextOverrides = {}): Promise<ModtuneServer> {
    const ctx = await AppContext.fromConfig(config, overrides);
    return new ModtuneServer(ctx, createApp(ctx, await bundlePages()));
  }

  async start(): Promise<AddressInfo> {
    const server = http.createServer(this.app);
    // Slow or stalled clients must not hold sockets forever.
    server.requestTimeout = this.ctx.config.requestTimeoutMs + 5_000;
    server.headersTimeout = 20_000;
    server.keepAliveTimeout = 65_000;
    const touch = () => (this.lastActivity = performance.now());
    server.on('connection', touch);
    server.on('request', touch);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.ctx.config.port, this.ctx.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    // CLIs started beside this server (same embedded database) find it here and go through its API.
    await this.ctx.database.advertise(`http://${connectableHost(addr)}:${addr.port}`);
    const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    this.ctx.logger.info({ host: addr.address, port: addr.port, review: `${url}/review`, dashboard: `${url}/dashboard`, api: `${url}/openapi.json` }, 'listening');
    return addr;
  }

  /**
   * Shutdown, in the order a load balancer needs: /readyz turns red at once (and every response says
   * `Connection: close`) while the listener keeps serving for `SHUTDOWN_DRAIN_MS`, so the orchestrator
   * stops sending traffic before anything is refused. Then the listener stays open until it has seen no
   * new connection and no new request for SHUTDOWN_QUIET_MS (at most SHUTDOWN_TIMEOUT_MS): connections
   * the kernel accepted but the process had not yet taken (its accept queue) would be reset if the
   * listening socket closed under them, and a keep-alive client may be sending its next request on an
   * idle connection; both are answered, with `Connection: close`. Then the listener closes, in-flight
   * requests finish and each keep-alive connection closes as soon as it is idle; after
   * `SHUTDOWN_TIMEOUT_MS` the rest are cut. Then inference and the database.
   */
  async destroy(): Promise<void> {
    const log = this.ctx.logger;
    const grace = this.ctx.config.shutdownTimeoutMs;
    const drain = this.ctx.config.shutdownDrainMs;
    this.ctx.draining = true;
    const server = this.server;
    if (server) {
      if (drain > 0) {
        log.info({ drainMs: drain }, 'shutting down: readiness is red; still serving while load balancers drain');
        await new Promise((r) => setTimeout(r, drain));
      }
      // Take everything the kernel has queued, and let keep-alive clients hear "Connection: close".
      const quietBy = performance.now() + grace;
      while (performance.now() - this.lastActivity < SHUTDOWN_QUIET_MS && performance.now() < quietBy) {
        await new Promise((r) => setTimeout(r, SHUTDOWN_QUIET_MS / 3));
      }
      if (performance.now() >= quietBy) log.warn({ graceMs: grace }, 'shutting down: new connections kept arriving for the whole grace period; closing the listener anyway');
      log.info('shutting down: no new connections, finishing in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A keep-alive connection becomes idle when its last request finishes: close it then, not after
      // keepAliveTimeout.
      server.closeIdleConnections();
      const idle = setInterval(() => server.closeIdleConnections(), 50);
      const timer = setTimeout(() => {
        log.warn({ graceMs: grace }, 'requests still in flight after the grace period; closing their connections');
        server.closeAllConnections();
      }, grace);
      timer.unref();
      await closed;
      clearInterval(idle);
      clearTimeout(timer);
    }
    await this.ctx.destroy(grace);
    log.info('shut down cleanly');
  }
}

/** Where a local client reaches a server bound to `addr` (a wildcard address means this host's loopback). */
function connectableHost(addr: AddressInfo): string {
  if (addr.address === '0.0.0.0' || addr.address === '::') return '127.0.0.1';
  return addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
}
