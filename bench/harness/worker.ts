// A load worker thread (worker_threads entry): owns its connections, keeps
// its share of the schedule (open loop) or its callers (closed loop), and
// posts a bucket per second and its totals to runLoad. Started only by
// load.ts; workerData is a WorkerConfig.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Recorder } from './recorder';
import { openSchedule, Pacer } from './schedule';
import { GrpcStream, GrpcUnary, type Done, type Transport } from './transport-grpc';
import { hrMs, type StartMessage, type WorkerConfig, type WorkerMessage } from './worker-protocol';

/**
 * Calls one worker keeps out at most; beyond it a due send is counted as an 'inflight_limit' error
 * instead of queued, so a stalled server cannot grow the generator's memory without bound.
 */
const MAX_IN_FLIGHT = 50_000;

const cfg = workerData as WorkerConfig;
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);

// One listener for the thread's life: it also keeps the thread alive after 'done' until runLoad terminates it,
// so a worker never exits on its own before the parent has read everything it posted.
let onStart: (m: StartMessage) => void = () => undefined;
parentPort!.on('message', (m: StartMessage) => onStart(m));
function started(): Promise<StartMessage> {
  return new Promise((resolve) => {
    onStart = resolve;
  });
}

/** This thread's performance.now() for a time on the shared hrtime clock. */
function localTime(hr: number): number {
  return hr - (hrMs() - performance.now());
}

async function runGrpc(): Promise<void> {
  const payload = Buffer.from(cfg.payload.buffer, cfg.payload.byteOffset, cfg.payload.byteLength);
  let onDone: Done = () => undefined;
  const done: Done = (start, outcome) => onDone(start, outcome);
  const transport: Transport =
    cfg.mode === 'stream'
      ? new GrpcStream(cfg.target, payload, cfg.connections, done)
      : new GrpcUnary(cfg.target, payload, cfg.connections, done);
  await transport.connect();
  post({ type: 'ready' });
  const t0 = localTime((await started()).t0HrMs);

  const open = cfg.rate !== undefined;
  const sched = open ? openSchedule(cfg.rate!, cfg.warmupMs, cfg.durationMs, cfg.worker, cfg.workers) : undefined;
  // Open loop: measuring starts with the first measured index's due time, so "measured" is exactly index >= warmupN.
  const measureStart = sched ? t0 + sched.warmupN * sched.intervalMs : t0 + cfg.warmupMs;
  const measureEnd = measureStart + cfg.durationMs;
  const rec = new Recorder(measureStart, cfg.durationMs, post);
  let measuredSent = 0;
  let measuredDone = 0;
  let unsent = 0;
  let sendingDone = false;
  let finished = false;
  let elu0: ReturnType<typeof performance.eventLoopUtilization> | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  const t = transport;

  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (drainTimer) clearTimeout(drainTimer);
    const elu = elu0 ? performance.eventLoopUtilization(elu0).utilization : 0;
    post(rec.finish(measuredSent - measuredDone, unsent, elu));
    t.close();
  };
  const sendingEnded = (): void => {
    if (sendingDone) return;
    sendingDone = true;
    if (t.inFlight === 0) finish();
    else drainTimer = setTimeout(finish, cfg.drainMs);
  };
  /** One send; `start` is its due time (open) or now (closed); measured sends are counted. */
  const send = (start: number, now: number, lag: number): void => {
    const measured = start >= measureStart;
    if (measured) rec.onSend(now, lag);
    if (t.inFlight >= MAX_IN_FLIGHT) {
      if (measured) rec.onError(now, 'inflight_limit');
      return;
    }
    if (measured) measuredSent++;
    t.send(start);
  };
  onDone = (start, outcome) => {
    if (finished) return;
    const now = performance.now();
    if (start >= measureStart && start < (open ? Infinity : measureEnd)) {
      measuredDone++;
      if (outcome === undefined) rec.onOk(now, now - start);
      else rec.onError(now, outcome);
    }
    if (!open && !sendingDone && now < measureEnd) send(now, now, 0);
    else if (sendingDone && t.inFlight === 0) finish();
  };

  setTimeout(
    () => {
      elu0 = performance.eventLoopUtilization();
      rec.startClock();
    },
    Math.max(0, measureStart - performance.now()),
  );
  if (sched) {
    const pacer = new Pacer(
      sched,
      t0,
      (_i, due, lag) => send(due, due + lag, lag),
      (left) => {
        unsent = left;
        sendingEnded();
      },
      () => t.inFlight > 0,
    );
    pacer.start();
  } else {
    setTimeout(
      () => {
        for (let i = 0; i < (cfg.concurrency ?? 0); i++) send(performance.now(), performance.now(), 0);
        if (!cfg.concurrency) sendingEnded();
      },
      Math.max(0, t0 - performance.now()),
    );
    setTimeout(sendingEnded, Math.max(0, measureEnd - performance.now()));
  }
}

async function runRestWorker(): Promise<void> {
  // Loaded only here, before 'ready' so the load is not late: autocannon is a devDependency, absent from a
  // production install, and gRPC load needs none of it.
  const { runRest } = await import('./transport-rest');
  post({ type: 'ready' });
  const t0 = localTime((await started()).t0HrMs);
  const measureStart = t0 + cfg.warmupMs;
  const rec = new Recorder(measureStart, cfg.durationMs, post);
  let elu0: ReturnType<typeof performance.eventLoopUtilization> | undefined;
  setTimeout(
    () => {
      elu0 = performance.eventLoopUtilization();
      rec.startClock();
    },
    Math.max(0, measureStart - performance.now()),
  );
  await runRest(cfg, rec, t0);
  post(rec.finish(0, 0, elu0 ? performance.eventLoopUtilization(elu0).utilization : 0));
}

(cfg.mode === 'rest' ? runRestWorker() : runGrpc()).catch((e: unknown) => {
  post({ type: 'fatal', message: e instanceof Error ? e.message : String(e) });
});
