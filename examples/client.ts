// Calls the demo's models with the typed client. Start the demo first
// (`npm start`: discovery on 50050, the balancer on 127.0.0.1:8001), then:
//
//   node dist/examples/client.js [balancer-address]           # through the balancer
//   node dist/examples/client.js --proxyless [discovery]      # straight to the sidecars
//
// It scores three feature rows with ranker (versions 1 and 2), asks
// recommend for a user's top items (INT64 in, INT64 + FP32 out), streams a
// few calls, and shows what an error looks like.
import { InferenceClient, InferenceError } from '../client';

/** `rows` deterministic feature rows of 256 floats in [-1, 1]. */
function featureRows(rows: number): Float32Array {
  const out = new Float32Array(rows * 256);
  for (let i = 0; i < out.length; i++) out[i] = Math.sin(i * 0.37);
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const proxyless = args[0] === '--proxyless';
  const address = (proxyless ? args[1] : args[0]) ?? (proxyless ? '127.0.0.1:50050' : '127.0.0.1:8001');
  const client = proxyless ? new InferenceClient({ discovery: address }) : new InferenceClient({ address });
  try {
    await client.waitForReady('recommend', { timeoutMs: 5_000 });
    process.stdout.write(`connected ${proxyless ? 'proxyless via discovery' : 'to the balancer'} at ${address}\n`);

    const features = featureRows(3);
    for (const version of [1, 2]) {
      const r = await client.infer(
        'ranker',
        { features: { datatype: 'FP32', shape: [3, 256], data: features } },
        { version, deadline: 2_000 },
      );
      // data('score', 'FP32') is a Float32Array: no cast, checked at run time.
      const scores = [...r.data('score', 'FP32')].map((s) => s.toFixed(4));
      process.stdout.write(`ranker v${r.version} scores [${r.shape('score').join(', ')}]: ${scores.join(' ')}\n`);
    }

    const r = await client.infer(
      'recommend',
      {
        user_id: { datatype: 'INT64', shape: [1], data: [42] },
        candidate_ids: { datatype: 'INT64', shape: [6], data: BigInt64Array.of(101n, 102n, 103n, 104n, 105n, 106n) },
      },
      { deadline: 2_000 },
    );
    const ids = r.data('item_ids', 'INT64');
    const scores = r.data('scores', 'FP32');
    process.stdout.write(`recommend for user 42: ${[...ids].map((id, i) => `${id} (${scores[i].toFixed(4)})`).join(', ')}\n`);

    // A stream carries many calls at once; answers arrive in any order and each resolves its own promise.
    const stream = client.stream();
    const rows = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        stream.infer('ranker', {
          features: { datatype: 'FP32', shape: [1, 256], data: features.subarray(0, 256).map((x) => (x * (i + 1)) / 8) },
        }),
      ),
    );
    await stream.close();
    process.stdout.write(`streamed 8 calls: ${rows.map((x) => x.data('score', 'FP32')[0].toFixed(4)).join(' ')}\n`);

    try {
      await client.infer('no-such-model', { features: { datatype: 'FP32', shape: [1, 256], data: features.subarray(0, 256) } });
    } catch (e) {
      if (!(e instanceof InferenceError)) throw e;
      process.stdout.write(`an unknown model fails with ${e.codeName} (${e.code}): ${e.details}\n`);
    }
  } finally {
    client.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
