import type { FleetContext } from '../context.ts'

/** Options of `fleet.cache()` (SPEC §3). Implemented in issue #3. */
export interface CacheOptions {
  namespace?: string
}

/** Rails' RedisCacheStore behaviour set (SPEC §3). Implemented in issue #3. */
export interface Cache {
  read<T = unknown>(key: string): Promise<T | undefined>
}

export function createCache(_ctx: FleetContext, _options: CacheOptions = {}): Cache {
  throw new Error('fleet.cache() is not implemented yet')
}
