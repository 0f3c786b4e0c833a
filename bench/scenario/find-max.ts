// PLACEHOLDER, replaced by the scenario runner's --find-max search.
import type { FindMaxOptions, LoadResult } from '../harness/types';

/** The highest rate whose p99 stays under the SLO with few enough errors; resolves with every phase tried and the best. */
export async function findMax(_opts: FindMaxOptions): Promise<{ best: LoadResult | undefined; tried: LoadResult[] }> {
  throw new Error('--find-max is not implemented yet');
}
