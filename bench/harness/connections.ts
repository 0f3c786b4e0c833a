// The HTTP/2 connections one load worker owns to its target: a fixed number,
// each replaced on its next use after it closes or is told GOAWAY (calls in
// flight finish on the old one), all destroyed together at the end. Nothing
// is pinged or retried: a failure shows in the calls, which is what a load
// test should report.
import * as http2 from 'node:http2';
import { noop } from '../../common/noop';

const SESSION_OPTIONS: http2.ClientSessionOptions = {
  // Open-loop load against a stalled server piles up streams; node's 10 MB default would refuse new ones.
  maxSessionMemory: 1024,
  settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 },
};

/** Connections to one authority, each replaced when it closes or is told GOAWAY. */
export class Connections {
  private readonly live: Array<http2.ClientHttp2Session | undefined>;
  private readonly all = new Set<http2.ClientHttp2Session>();

  constructor(
    private readonly authority: string,
    n: number,
  ) {
    this.live = new Array(n).fill(undefined);
  }

  /** Connection i, connecting if needed. */
  get(i: number): http2.ClientHttp2Session {
    const s = this.live[i];
    if (s && !s.closed && !s.destroyed) return s;
    const n = http2.connect(`http://${this.authority}`, SESSION_OPTIONS);
    n.on('error', noop); // each stream on it reports the failure as it closes
    const forget = (): void => {
      if (this.live[i] === n) this.live[i] = undefined;
    };
    n.once('goaway', forget); // streams in flight finish on it; new ones take a fresh connection
    n.once('close', () => {
      forget();
      this.all.delete(n);
    });
    this.all.add(n);
    this.live[i] = n;
    return n;
  }

  /** Connects every connection; resolves once each is up or failed (at most 5 s). */
  async open(): Promise<void> {
    await Promise.all(
      this.live.map(
        (_, i) =>
          new Promise<void>((resolve) => {
            const s = this.get(i);
            const t = setTimeout(resolve, 5000);
            const fin = (): void => {
              clearTimeout(t);
              resolve();
            };
            s.once('connect', fin);
            s.once('close', fin);
          }),
      ),
    );
  }

  /** Destroys every session, old ones included. */
  close(): void {
    for (const s of this.all) s.destroy();
    this.all.clear();
  }
}
