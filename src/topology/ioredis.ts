import type * as IORedis from 'ioredis'
import { MissingClientError } from '../errors.ts'

export type IORedisModule = typeof IORedis

let loading: Promise<IORedisModule> | undefined

/**
 * Imports `ioredis` on first use, so the memory topology works without it installed.
 * A missing package becomes an error that says what to install.
 */
export function loadIORedis(): Promise<IORedisModule> {
  loading ??= import('ioredis').catch((error: unknown) => {
    loading = undefined
    const code = (error as { code?: string })?.code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new MissingClientError(error)
    throw error
  })
  return loading
}
