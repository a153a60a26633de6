import type { ChainableCommander } from 'ioredis'
import type { RedisTopology } from '../topology/types.ts'
import type { CacheBackend, WriteItem } from './backend.ts'
import { escapeGlob } from './glob.ts'
import { INCREMENT_WITH_TTL, UNLOCK } from './scripts.ts'

/** Keys per SCAN page and per UNLINK batch of deleteMatching. */
const SCAN_COUNT = 1000

/**
 * Cache commands on a Redis topology: GET/SET/UNLINK/INCRBY on the key's node, MGET, SET and
 * UNLINK grouped per node (per slot on a cluster) and sent as one pipeline per node.
 */
export class RedisCacheBackend implements CacheBackend {
  constructor(private readonly topology: () => Promise<RedisTopology>) {}

  async #client(key: string) {
    return (await this.topology()).client(key)
  }

  async get(key: string): Promise<Buffer | undefined> {
    return (await (await this.#client(key)).getBuffer(key)) ?? undefined
  }

  async getMany(keys: readonly string[]): Promise<(Buffer | undefined)[]> {
    const out = new Array<Buffer | undefined>(keys.length)
    if (keys.length === 0) return out
    const topology = await this.topology()
    const batches = await topology.batches(keys)
    if (batches.length === 1) {
      // One node (one slot on a cluster): a plain MGET, without building a pipeline.
      const only = batches[0]!
      const values = await (await topology.client(only.keys[0]!)).mgetBuffer(...only.keys)
      only.indexes.forEach((index, n) => {
        out[index] = values[n] ?? undefined
      })
      return out
    }
    const replies = await topology.pipeline(batches, (pipe, batch) => pipe.mgetBuffer(...batch.keys))
    batches.forEach((batch, i) => {
      const values = replies[i]![0] as (Buffer | null)[]
      batch.indexes.forEach((index, n) => {
        out[index] = values[n] ?? undefined
      })
    })
    return out
  }

  async set(key: string, value: Buffer | string, ttl: number | undefined, nx: boolean): Promise<boolean> {
    const client = await this.#client(key)
    const reply =
      ttl === undefined
        ? nx
          ? await client.set(key, value, 'NX')
          : await client.set(key, value)
        : nx
          ? await client.set(key, value, 'PX', ttl, 'NX')
          : await client.set(key, value, 'PX', ttl)
    return reply === 'OK'
  }

  async setMany(items: readonly WriteItem[]): Promise<boolean[]> {
    const out = new Array<boolean>(items.length).fill(false)
    if (items.length === 0) return out
    const topology = await this.topology()
    const batches = await topology.batches(items.map((item) => item.key))
    const replies = await topology.pipeline(batches, (pipe, batch) => {
      for (const index of batch.indexes) addSet(pipe, items[index]!)
    })
    batches.forEach((batch, i) => {
      batch.indexes.forEach((index, n) => {
        out[index] = replies[i]![n] === 'OK'
      })
    })
    return out
  }

  async delete(key: string): Promise<boolean> {
    return (await (await this.#client(key)).unlink(key)) > 0
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0
    const topology = await this.topology()
    const batches = await topology.batches([...new Set(keys)])
    const replies = await topology.pipeline(batches, (pipe, batch) => pipe.unlink(...batch.keys))
    return replies.reduce((sum, reply) => sum + Number(reply[0]), 0)
  }

  async increment(key: string, by: number, ttl: number | undefined): Promise<number> {
    const client = await this.#client(key)
    if (ttl === undefined) return Number(await client.incrby(key, by))
    return Number(await INCREMENT_WITH_TTL.run(client, [key], [by, ttl]))
  }

  async bump(key: string): Promise<number> {
    return (await this.#client(key)).incr(key)
  }

  async deleteMatching(prefix: string, glob: string): Promise<number> {
    const topology = await this.topology()
    const pattern = escapeGlob(prefix) + glob
    const masters = await topology.masters()
    const counts = await Promise.all(
      masters.map(async (master) => {
        let removed = 0
        let cursor = '0'
        do {
          const [next, found] = await master.client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
          cursor = next
          // The pattern already starts with the escaped prefix; the check is a second guard
          // that nothing outside the cache namespace is ever deleted.
          const keys = found.filter((key) => key.startsWith(prefix))
          if (keys.length === 0) continue
          const batches = await topology.batches(keys)
          const replies = await topology.pipeline(batches, (pipe, batch) => pipe.unlink(...batch.keys))
          removed += replies.reduce((sum, reply) => sum + Number(reply[0]), 0)
        } while (cursor !== '0')
        return removed
      }),
    )
    return counts.reduce((a, b) => a + b, 0)
  }

  async lock(key: string, token: string, ttl: number): Promise<boolean> {
    return (await (await this.#client(key)).set(key, token, 'PX', ttl, 'NX')) === 'OK'
  }

  async unlock(key: string, token: string): Promise<void> {
    await UNLOCK.run(await this.#client(key), [key], [token])
  }
}

function addSet(pipe: ChainableCommander, item: WriteItem): void {
  if (item.ttl === undefined) {
    if (item.nx) pipe.set(item.key, item.value, 'NX')
    else pipe.set(item.key, item.value)
  } else if (item.nx) pipe.set(item.key, item.value, 'PX', item.ttl, 'NX')
  else pipe.set(item.key, item.value, 'PX', item.ttl)
}
