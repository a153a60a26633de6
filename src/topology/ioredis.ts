import type * as IORedis from 'ioredis'
import { peerLoader } from './peer.ts'

export type IORedisModule = typeof IORedis

/**
 * Imports `ioredis` on first use, unless REDFLEET_TEST_IOREDIS names another installed copy: CI
 * runs the contract suites once on ioredis 5 that way (`REDFLEET_TEST_IOREDIS=ioredis5`, the dev
 * alias), since the peer range covers 5 and 6.
 */
export const loadIORedis = peerLoader<IORedisModule>(
  () => [process.env.REDFLEET_TEST_IOREDIS || 'ioredis'],
  'ioredis',
)
