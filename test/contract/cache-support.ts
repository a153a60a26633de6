/**
 * Helpers of the cache suites: a movable clock (Rails' `travel`), unique keys, and direct access
 * to the stored bytes of a key on each topology (to check envelopes, compression and TTLs the
 * way `redis-cli` would see them).
 */
import { Cluster, Redis } from 'ioredis'
import { CACHE_CLOCK } from '../../src/cache/clock.ts'
import type { Cache, CacheOptions, Fleet, TopologyKind } from '../../src/index.ts'
import { MemoryStream } from '../../src/streams/memory-stream.ts'
import { parseServerUrl } from '../../src/topology/connection.ts'
import { processMemory } from '../../src/topology/memory.ts'
import { HashRing } from '../../src/topology/ring.ts'
import { testServers } from '../harness/servers.ts'

export interface TestClock {
  now: number
  advance(ms: number): void
}

export function testClock(start = Date.now()): TestClock {
  const clock = {
    now: start,
    advance(ms: number) {
      clock.now += ms
    },
  }
  return clock
}

/** A cache whose notion of time is `clock` (Redis TTLs stay real). */
export function cacheWithClock(fleet: Fleet, clock: TestClock, options: CacheOptions = {}): Cache {
  return fleet.cache({ ...options, [CACHE_CLOCK]: () => clock.now } as CacheOptions)
}

let counter = 0
/** A key no other test uses. */
export function uniqueKey(label = 'k'): string {
  counter++
  return `${label}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`
}

/** What a raw client sees of one full key. */
export interface RawAccess {
  get(key: string): Promise<Buffer | undefined>
  set(key: string, value: string | Buffer, ttl?: number): Promise<void>
  /** ms; -1 without expiry, -2 missing. */
  pttl(key: string): Promise<number>
  exists(key: string): Promise<boolean>
  /** Deletes `key`, as a node restarted empty has lost it. */
  delete(key: string): Promise<void>
  /** Makes `key` a stream of one entry: a key of another type where a string is read. */
  stream(key: string): Promise<void>
  isStream(key: string): Promise<boolean>
  close(): Promise<void>
}

export async function rawAccess(topology: TopologyKind): Promise<RawAccess> {
  if (topology === 'memory') {
    return {
      async get(key) {
        const value = processMemory.get<unknown>(key)
        if (value === undefined) return undefined
        return Buffer.isBuffer(value) ? value : Buffer.from(String(value))
      },
      async set(key, value, ttl) {
        processMemory.set(key, value, ttl)
      },
      async pttl(key) {
        return processMemory.pttl(key)
      },
      async exists(key) {
        return processMemory.has(key)
      },
      async delete(key) {
        processMemory.delete(key)
      },
      async stream(key) {
        const stream = new MemoryStream()
        stream.append(['env', '{"n":1}'], Number.MAX_SAFE_INTEGER)
        processMemory.set(key, stream)
      },
      async isStream(key) {
        return processMemory.get(key) instanceof MemoryStream
      },
      async close() {},
    }
  }
  const servers = await testServers()
  const clients: (Redis | Cluster)[] =
    topology === 'standalone'
      ? [new Redis(servers.standalone)]
      : topology === 'sharded'
        ? servers.shards.map((url) => new Redis(url))
        : [
            new Cluster(
              servers.cluster.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })),
            ),
          ]
  // On the ring a key lives on the shard the fleet's ring names: ask that one.
  const ids = topology === 'sharded' ? servers.shards.map((url) => parseServerUrl(url).id) : []
  const ring = topology === 'sharded' ? new HashRing(ids) : undefined
  const clientOf = (key: string) => (ring ? clients[ids.indexOf(ring.nodeFor(key))]! : clients[0]!)
  return {
    get: async (key) => (await clientOf(key).getBuffer(key)) ?? undefined,
    async set(key, value, ttl) {
      if (ttl === undefined) await clientOf(key).set(key, value)
      else await clientOf(key).set(key, value, 'PX', ttl)
    },
    pttl: (key) => clientOf(key).pttl(key),
    exists: async (key) => (await clientOf(key).exists(key)) > 0,
    async delete(key) {
      await clientOf(key).del(key)
    },
    async stream(key) {
      await clientOf(key).xadd(key, '*', 'env', '{"n":1}')
    },
    isStream: async (key) => (await clientOf(key).type(key)) === 'stream',
    async close() {
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())))
    },
  }
}

/** Rails' RedisCacheStore test fixture raises from its error handler: failures must be seen. */
export function raise({ exception }: { exception: unknown }): never {
  throw exception
}

/** A promise (`opened`) and what resolves it (`open`). */
export function opening(): { opened: Promise<void>; open: () => void } {
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open }
}
