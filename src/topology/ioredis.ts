import type * as IORedis from 'ioredis'
import { MissingClientError } from '../errors.ts'

export type IORedisModule = typeof IORedis

let loading: Promise<IORedisModule> | undefined

/**
 * Imports `ioredis` on first use, so the memory topology works without it installed.
 * A missing package becomes an error that says what to install.
 */
export function loadIORedis(): Promise<IORedisModule> {
  loading ??= (import(clientModule()) as Promise<IORedisModule>).catch((error: unknown) => {
    loading = undefined
    const code = (error as { code?: string })?.code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new MissingClientError(error)
    throw error
  })
  return loading
}

/**
 * `ioredis`, unless REDFLEET_TEST_IOREDIS names another installed copy: CI runs the contract
 * suites once on ioredis 5 that way (`REDFLEET_TEST_IOREDIS=ioredis5`, the dev alias), since the
 * peer range covers 5 and 6.
 */
function clientModule(): string {
  return process.env.REDFLEET_TEST_IOREDIS || 'ioredis'
}
