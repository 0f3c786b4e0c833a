import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeHistogram } from '../../../bench/harness/histogram';
import { formatTick, liveLine, liveWanted } from '../../../bench/harness/live-line';
import { runLoad } from '../../../bench/harness/load';
import { renderHtml, writeHtmlReport } from '../../../bench/harness/report-html';
import { buildReport, checkReport, reportSchema, writeJsonReport } from '../../../bench/harness/report-json';
import { formatReportTable, ratioBases } from '../../../bench/harness/report-table';
import { undescribed, validate } from '../../../bench/harness/schema-check';
import { startTrivialGrpc, type TrivialServer } from '../../../bench/harness/trivial-server';
import type { LoadResult, Report, TickStats } from '../../../bench/harness/types';

/** A deep copy with one change, for negative schema cases. */
function mutate(r: Report, change: (x: Record<string, any>) => void): unknown {
  const copy = JSON.parse(JSON.stringify(r));
  change(copy);
  return copy;
}

describe('reports', () => {
  let server: TrivialServer;
  let report: Report;
  let dir: string;
  before(async () => {
    server = await startTrivialGrpc({ failEvery: 50 });
    dir = await mkdtemp(path.join(os.tmpdir(), 'bench-report-'));
    const load = {
      target: `127.0.0.1:${server.port}`,
      model: 'ranker',
      durationMs: 1500,
      warmupMs: 200,
      connections: 1,
      workers: 1,
    } as const;
    const results: LoadResult[] = [
      await runLoad({ ...load, label: 'first <target>', mode: 'unary', rate: 300 }),
      await runLoad({ ...load, label: 'second', mode: 'stream', rate: 300 }),
      await runLoad({ ...load, label: 'third', mode: 'unary', rate: 300 }),
      await runLoad({ ...load, label: 'closed', mode: 'unary', concurrency: 2 }),
    ];
    report = buildReport(results, { scenario: 'test', notes: ['a note & more'] });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a real report validates against report.schema.json, and the schema describes every field in it', async () => {
    const file = path.join(dir, 'nested', 'r.json');
    await writeJsonReport(report, file);
    const back = JSON.parse(await readFile(file, 'utf8'));
    assert.deepEqual(await checkReport(back), []);
    assert.deepEqual(undescribed(await reportSchema(), back), []);
    assert.equal(back.schema, 'infergate-bench/1');
    // The histogram is the exact merged one: it decodes to the OK count.
    assert.equal(decodeHistogram(back.results[0].histogram).totalCount, back.results[0].ok);
  });

  // [name, change, expected problem]
  const bad: Array<[string, (x: Record<string, any>) => void, RegExp]> = [
    [
      'wrong schema version',
      (x) => {
        x.schema = 'infergate-bench/0';
      },
      /\$\.schema: expected "infergate-bench\/1"/,
    ],
    [
      'missing field',
      (x) => {
        delete x.results[0].sent;
      },
      /\$\.results\[0\]: missing 'sent'/,
    ],
    [
      'unknown mode',
      (x) => {
        x.results[1].mode = 'grpc';
      },
      /\$\.results\[1\]\.mode: expected one of/,
    ],
    [
      'negative count',
      (x) => {
        x.results[0].errors.UNAVAILABLE = -1;
      },
      /\$\.results\[0\]\.errors\.UNAVAILABLE: -1 is below 0/,
    ],
    [
      'fractional count',
      (x) => {
        x.results[0].ok = 1.5;
      },
      /\$\.results\[0\]\.ok: expected integer/,
    ],
    [
      'a histogram that is not base64',
      (x) => {
        x.results[0].histogram = 'not base64!';
      },
      /histogram: does not match/,
    ],
    [
      'a curve point of 3 numbers',
      (x) => {
        x.results[0].percentileCurve[0] = [1, 2, 3];
      },
      /percentileCurve\[0\]: more than 2 items/,
    ],
    [
      'a string where a number goes',
      (x) => {
        x.results[0].latencyMs.p99 = '3';
      },
      /latencyMs\.p99: expected number, got string/,
    ],
    [
      'null where an object goes',
      (x) => {
        x.results[0].generator = null;
      },
      /generator: expected object, got null/,
    ],
  ];
  for (const [name, change, want] of bad) {
    it(`the schema rejects: ${name}`, async () => {
      const problems = await checkReport(mutate(report, change));
      assert.ok(
        problems.some((p) => want.test(p)),
        problems.join('\n'),
      );
    });
  }

  it('writeJsonReport refuses a report that does not match', async () => {
    await assert.rejects(
      writeJsonReport(
        mutate(report, (x) => {
          x.results[0].mode = 'x';
        }) as Report,
        path.join(dir, 'bad.json'),
      ),
      /does not match/,
    );
  });

  it('the validator refuses schema keywords outside its subset rather than ignore them', () => {
    assert.throws(() => validate({ type: 'object', oneOf: [] }, {}), /outside the supported subset/);
  });

  it('the HTML report is one self-contained file with a chart per target', async () => {
    const file = path.join(dir, 'html', 'r.html');
    await writeHtmlReport(report, file);
    assert.deepEqual(await readdir(path.dirname(file)), ['r.html']);
    const html = await readFile(file, 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?\s*(https?:)?\/\//i, 'no external src/href');
    assert.doesNotMatch(html, /url\(\s*["']?(https?:)?\/\//i, 'no external CSS url()');
    assert.doesNotMatch(html, /<script|<link|<img|<iframe/i);
    for (const cls of ['chart percentile', 'chart throughput', 'chart p99']) {
      assert.equal(html.split(`<svg class="${cls}"`).length - 1, report.results.length, cls);
    }
    assert.equal(html.split('<section class="target"').length - 1, report.results.length);
    assert.match(html, /<svg class="chart overlay"/);
    assert.match(html, /first &#60;target&#62;/, 'labels are escaped');
    assert.match(html, /a note &#38; more/);
    assert.equal(html, renderHtml(report));
  });

  it('the table compares each phase with the first offered the same load', () => {
    const bases = ratioBases(report.results);
    assert.deepEqual(
      bases.map((b) => b.label),
      ['first <target>', 'second', 'first <target>', 'closed'],
    );
    const text = formatReportTable(report);
    const lines = text.split('\n');
    const row = (label: string) => lines.find((l) => l.startsWith(`| ${label} `))!;
    assert.match(row('first <target>'), /\(first\)/);
    const third = report.results[2];
    const ratio = `${(third.achievedRate / report.results[0].achievedRate).toFixed(2)}x`;
    assert.ok(row('third').includes(ratio), row('third'));
    assert.match(row('closed'), /closed \(c=2\)/);
    assert.match(text, /errors, first <target>: UNAVAILABLE \d+/);
    assert.match(text, /closed loop: .*hides stalls/);
    assert.match(text, /open loop: .*scheduled send/);
  });

  it('a LIMITED generator is called out under the table', () => {
    const r = { ...report.results[0], generator: { ...report.results[0].generator, limited: true } };
    const text = formatReportTable(buildReport([r]));
    assert.match(text, /LIMITED \(/);
    assert.match(text, /generator's limit, not the server's/);
  });
});

describe('live line', () => {
  const tick = (elapsedMs: number): TickStats => ({
    label: 'phase',
    t: elapsedMs / 1000 - 1,
    sent: 200,
    ok: 198,
    errors: 2,
    p50Ms: 1.234,
    p99Ms: 9.87,
    elapsedMs,
    totalMs: 3000,
  });
  /** A fake terminal collecting writes. */
  const tty = (isTTY: boolean) => {
    const writes: string[] = [];
    return { isTTY, columns: 200, writes, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WritableStream & {
      isTTY: boolean;
      writes: string[];
    };
  };

  it('on a terminal: redraws one line per tick and ends it at the last tick', () => {
    const out = tty(true);
    const saved = process.env.CI;
    delete process.env.CI;
    try {
      const line = liveLine(false, out);
      line(tick(1000));
      line(tick(2000));
      line(tick(3000));
      line.end(); // already ended: nothing more
    } finally {
      if (saved !== undefined) process.env.CI = saved;
    }
    assert.equal(out.writes.length, 4);
    assert.ok(out.writes.slice(0, 3).every((w) => w.startsWith('\r\x1b[2K')));
    assert.equal(out.writes[3], '\n');
    assert.match(out.writes[0], /phase {2}1\/3 s {2}200 answers\/s .*p99 9\.87 ms {2}errors 2 \(1\.0 %\)/);
  });

  // [name, quiet, isTTY, CI]
  const silent: Array<[string, boolean, boolean, string | undefined]> = [
    ['quiet', true, true, undefined],
    ['not a terminal', false, false, undefined],
    ['CI set', false, true, 'true'],
  ];
  for (const [name, quiet, isTTY, ci] of silent) {
    it(`prints nothing when ${name}`, () => {
      assert.equal(liveWanted({ isTTY }, ci === undefined ? {} : { CI: ci }), isTTY && ci === undefined);
      const out = tty(isTTY);
      const saved = process.env.CI;
      if (ci === undefined) delete process.env.CI;
      else process.env.CI = ci;
      try {
        const line = liveLine(quiet, out);
        line(tick(1000));
        line(tick(3000));
        line.end();
      } finally {
        if (saved === undefined) delete process.env.CI;
        else process.env.CI = saved;
      }
      assert.deepEqual(out.writes, []);
    });
  }

  it('formats a tick without control characters', () => {
    assert.doesNotMatch(formatTick(tick(1000)), /[\r\n\x1b]/);
  });
});
