/**
 * Memoises a one-argument function with a bounded cache (oldest entry evicted first). The agreements
 * repeat the same words, so a few thousand entries catch nearly every repeat, while a 1.000-agreement
 * batch with unique names cannot grow the process without bound.
 */
export function memoize<V>(fn: (key: string) => V, limit = 4000): (key: string) => V {
  const cache = new Map<string, V>();
  return (key: string) => {
    let value = cache.get(key);
    if (value === undefined) {
      value = fn(key);
      if (cache.size >= limit) cache.delete(cache.keys().next().value!);
      cache.set(key, value);
    }
    return value;
  };
}
