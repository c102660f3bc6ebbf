/**
 * `work` for every item, at most `size` at a time (bounds the commands in
 * flight to Redis when a node renews, recovers or resumes thousands at once).
 */
export async function inBatches<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return results;
}
