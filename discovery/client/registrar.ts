// The sidecar-side discovery client: registers, keeps the lease alive with
// heartbeats that carry load and status, and never gives up. It runs beside
// the data path: start() returns at once and a down discovery service only
// means retries with backoff. One call is in flight at a time; a single
// timer chain drives it, so the state is easy to follow:
//   registering --ok--> registered --heartbeat NOT_FOUND / lease surely expired--> registering
import * as grpc from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random, type TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/log';
import { Status } from '../../protocol/status';
import { Backoff, type BackoffOptions } from '../../common/backoff';
import { NO_LOAD, type Health, type LoadSummary, type ModelServed } from '../types';
import { discoveryClient, loadToProto, type DiscoveryClient } from '../wire';

/** Registrar lifecycle. */
export type RegistrarState = 'registering' | 'registered' | 'stopped';

/** What a sidecar tells discovery about itself. */
export interface RegistrarOptions {
  /** Discovery address(es): host:port[,host:port...]; tried in turn on failure. */
  readonly discovery: string;
  /** host:port balancers should dial (the sidecar's gRPC port). */
  readonly advertise: string;
  readonly zone?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Models and versions served. */
  readonly models: readonly ModelServed[];
  readonly weight?: number;
  readonly capacity?: number;
  readonly priority?: number;
  /** Stable endpoint id; default the advertise address. */
  readonly endpointId?: string;
  /** Lease TTL to ask for (ms); 0/absent takes discovery's default. */
  readonly ttlMs?: number;
  /** Current load; read once per heartbeat. */
  readonly load: () => LoadSummary;
  /** Current health when not draining (e.g. UNHEALTHY while models load); default HEALTHY. */
  readonly health?: () => Health;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly backoff?: BackoffOptions;
  /** Deadline of each call (ms, default 2000). */
  readonly callTimeoutMs?: number;
}

/** Registers a sidecar with discovery and keeps it registered. */
export class Registrar {
  private st: RegistrarState = 'registering';
  private lease: string | undefined;
  private endpointId: string;
  private ttlMs = 0;
  private intervalMs = 1000;
  private lastAck = 0;
  private draining = false;
  private failing = false;
  private busy = false;
  private kick = false;
  private timer: TimerHandle | undefined;
  private drainWaiters: (() => void)[] = [];
  private readonly addresses: string[];
  private next = 0;
  private readonly clients = new Map<string, DiscoveryClient>();
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private readonly stateCbs = new Set<(s: RegistrarState) => void>();

  constructor(private readonly opts: RegistrarOptions) {
    this.addresses = opts.discovery
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (this.addresses.length === 0) throw new Error('discovery address is empty; expected host:port[,host:port...]');
    this.clock = opts.clock ?? systemClock;
    this.backoff = new Backoff(opts.backoff, opts.random ?? systemRandom);
    this.endpointId = opts.endpointId ?? opts.advertise;
  }

  /** Current state. */
  get state(): RegistrarState {
    return this.st;
  }

  /** The lease held, if registered. */
  get leaseId(): string | undefined {
    return this.lease;
  }

  /** Calls cb on every state change; returns an unsubscribe function. */
  onState(cb: (s: RegistrarState) => void): () => void {
    this.stateCbs.add(cb);
    return () => this.stateCbs.delete(cb);
  }

  /** Starts registering in the background; returns at once. */
  start(): void {
    this.tick();
  }

  /** Announces DRAINING; resolves once discovery acknowledged it or the call failed. Never rejects. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.st === 'stopped') return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.tick();
    });
  }

  /** Stops heartbeats and deregisters (best effort, within the call timeout). */
  async stop(): Promise<void> {
    if (this.st === 'stopped') return;
    this.setState('stopped');
    if (this.timer) this.clock.clearTimeout(this.timer);
    for (const w of this.drainWaiters.splice(0)) w();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) {
      await new Promise<void>((resolve) => this.client().Deregister({ lease_id: lease }, this.callOptions(), () => resolve()));
    }
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** Runs the next call now, or right after the one in flight. */
  private tick(): void {
    if (this.st === 'stopped') return;
    if (this.timer) this.clock.clearTimeout(this.timer);
    if (this.busy) {
      this.kick = true;
      return;
    }
    this.busy = true;
    const waiters = this.drainWaiters.splice(0);
    const call = this.lease ? this.heartbeat() : this.register();
    void call.then(() => {
      this.busy = false;
      for (const w of waiters) w();
      if (this.kick) {
        this.kick = false;
        this.tick();
      }
    });
  }

  private schedule(ms: number): void {
    if (this.st === 'stopped') return;
    this.timer = this.clock.setTimeout(() => this.tick(), ms);
  }

  /** The sidecar's load; a throwing callback must not stop heartbeats. */
  private load(): LoadSummary {
    try {
      return this.opts.load();
    } catch (e) {
      this.opts.log.warn('load callback failed; reporting no load', { err: String(e) });
      return NO_LOAD;
    }
  }

  private status(): Health {
    return this.draining ? 'DRAINING' : (this.opts.health?.() ?? 'HEALTHY');
  }

  private register(): Promise<void> {
    const o = this.opts;
    const req = {
      address: o.advertise,
      zone: o.zone ?? '',
      labels: { ...o.labels },
      models: o.models.map((m) => ({ name: m.name, versions: [...m.versions] })),
      weight: o.weight ?? 1,
      capacity: o.capacity ?? 0,
      priority: o.priority ?? 0,
      ttl_ms: o.ttlMs ?? 0,
      endpoint_id: this.endpointId,
      status: this.status(),
      load: loadToProto(this.load()),
    };
    return new Promise((resolve) => {
      this.client().Register(req, this.callOptions(), (err, res) => {
        if (this.st === 'stopped') {
          // Stopped while registering: do not leave a lease behind.
          if (res) this.client().Deregister({ lease_id: res.lease_id }, this.callOptions(), () => undefined);
          return resolve();
        }
        if (err || !res) {
          this.failed('register', err);
          this.schedule(this.backoff.next());
          return resolve();
        }
        this.lease = res.lease_id;
        this.endpointId = res.endpoint_id;
        this.ttlMs = res.ttl_ms;
        this.intervalMs = res.heartbeat_interval_ms || Math.max(50, res.ttl_ms / 3);
        this.lastAck = this.clock.now();
        this.recovered();
        o.log.info('registered with discovery', {
          lease: res.lease_id,
          endpoint_id: res.endpoint_id,
          ttl_ms: res.ttl_ms,
          status: req.status,
        });
        this.setState('registered');
        this.schedule(this.intervalMs);
        resolve();
      });
    });
  }

  private heartbeat(): Promise<void> {
    const lease = this.lease!;
    const req = { lease_id: lease, endpoint_id: this.endpointId, load: loadToProto(this.load()), status: this.status() };
    return new Promise((resolve) => {
      this.client().Heartbeat(req, this.callOptions(), (err) => {
        if (this.st === 'stopped' || this.lease !== lease) return resolve();
        if (!err) {
          this.lastAck = this.clock.now();
          this.recovered();
          this.schedule(this.intervalMs);
        } else if (err.code === Status.NOT_FOUND || this.clock.now() - this.lastAck > this.ttlMs) {
          // The lease is gone (or cannot have survived this long without a
          // heartbeat): register again, at once.
          this.opts.log.warn('discovery lease lost; registering again', { lease, reason: err.details });
          this.lease = undefined;
          this.setState('registering');
          this.schedule(0);
        } else {
          // Keep trying within the TTL; another replica may answer.
          this.failed('heartbeat', err);
          this.schedule(Math.min(this.intervalMs, this.backoff.next()));
        }
        resolve();
      });
    });
  }

  private failed(what: string, err: grpc.ServiceError | null): void {
    this.next++;
    if (this.failing) return; // one log line per outage, not per retry
    this.failing = true;
    this.opts.log.warn(`discovery ${what} failed; retrying with backoff`, {
      reason: err ? `${Status[err.code] ?? err.code}: ${err.details}` : 'no response',
    });
  }

  private recovered(): void {
    this.backoff.reset();
    this.failing = false;
  }

  private client(): DiscoveryClient {
    const address = this.addresses[this.next % this.addresses.length];
    let c = this.clients.get(address);
    if (!c) this.clients.set(address, (c = discoveryClient(address)));
    return c;
  }

  private callOptions(): grpc.CallOptions {
    // grpc-js takes an absolute wall-clock deadline and times the call
    // itself (sending grpc-timeout on), so this is the one place the
    // registrar reads Date.now() rather than its clock: a monotonic or fake
    // clock's reading would be a date decades off.
    return { deadline: Date.now() + (this.opts.callTimeoutMs ?? 2000) };
  }

  private setState(s: RegistrarState): void {
    if (this.st === s) return;
    this.st = s;
    for (const cb of this.stateCbs) cb(s);
  }
}
