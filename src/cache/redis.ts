import { started } from '../deadline.ts'
import { pipeScript } from '../durability.ts'
import { INCREMENT_WITH_TTL } from '../store/scripts.ts'
import type { TopologyHandle } from '../topology/handle.ts'
import { mastersToScan } from '../topology/masters.ts'
import { everyPart, getOnOneConnection, inCallerOrder } from '../topology/pipeline.ts'
import { setArguments } from '../topology/tick-batch.ts'
import type { MasterNode, RedisTopology } from '../topology/types.ts'
import { inOrderOf } from '../written.ts'
import type { CacheBackend, SetReply, WriteItem } from './backend.ts'
import { escapeGlob } from './glob.ts'
import { GET_IDENTIFIED, RELEASE_FILL_LOCK, SET_UNLESS_LIVE, TAKE_FILL_LOCK, TTL_EACH } from './scripts.ts'
import { newTagVersion } from './tag-versions.ts'

/** Keys per SCAN page and per UNLINK batch of deleteMatching. */
const SCAN_COUNT = 1000

/**
 * Cache commands on a Redis topology: GET/SET/UNLINK/INCRBY on the key's node, MGET, SET and
 * UNLINK grouped per node (per slot on a cluster) and sent as one pipeline per node.
 */
export class RedisCacheBackend implements CacheBackend {
  readonly #topology: TopologyHandle
  /** The keys whose PTTL near-cache fills asked for in this tick, read together at its end. */
  #ttlTick: TtlWait[] | undefined

  /** `topology`: the fleet's one hold on it (FleetContext.redisHandle). */
  constructor(topology: TopologyHandle) {
    this.#topology = topology
  }

  get(key: string): Promise<string | null> {
    return this.#topology.read(key)
  }

  async getIdentified(key: string): Promise<{ text: string; identity: string } | null> {
    const reply = await this.#topology.run(key, (client) => GET_IDENTIFIED.run(client, [key], []))
    if (!Array.isArray(reply)) return null
    return { text: String(reply[0]), identity: String(reply[1]) }
  }

  /**
   * The GET goes with the tick's other GETs, in call order; the PTTL with the tick's other fills'
   * PTTLs, in one step per node, after them. Their order does not matter: a change of the key
   * between the two is invalidated, which keeps the fill out of the near cache or evicts it.
   */
  getExpiring(key: string): Promise<[text: string | null, ttl: number]> {
    return Promise.all([this.get(key), this.#tickTtl(key)])
  }

  getManyExpiring(keys: readonly string[]): Promise<[texts: (string | null)[], ttls: number[]]> {
    return Promise.all([this.getMany(keys), this.#ttls(keys)])
  }

  /**
   * The PTTL of `key`, read with those of the other keys asked for in this tick: one script per
   * node, each answering its own keys (a node that fails or is slow holds no other's).
   */
  #tickTtl(key: string): Promise<number> {
    return new Promise((resolve, reject) => {
      let waits = this.#ttlTick
      if (waits === undefined) {
        const tick: TtlWait[] = []
        this.#ttlTick = waits = tick
        process.nextTick(() => {
          this.#ttlTick = undefined
          void this.#sendTtls(tick)
        })
      }
      waits.push({ key, resolve, reject })
    })
  }

  /** One TTL_EACH per node (per slot on a cluster), each settling the waits of its own keys. */
  async #sendTtls(waits: readonly TtlWait[]): Promise<void> {
    try {
      const topology = this.#topology.current ?? (await this.#topology.get())
      for (const batch of await topology.batches(waits.map((wait) => wait.key))) {
        started(() => TTL_EACH.run(topology.batchClient(batch), batch.keys, [])).then(
          (ttls) => {
            batch.indexes.forEach((index, n) => {
              waits[index]!.resolve(Number((ttls as unknown[])[n]))
            })
          },
          (error: unknown) => {
            for (const index of batch.indexes) waits[index]!.reject(error)
          },
        )
      }
    } catch (error) {
      for (const wait of waits) wait.reject(error)
    }
  }

  /** The PTTLs of `keys`, sent as a tick's are (#sendTtls): one TTL_EACH per node. */
  #ttls(keys: readonly string[]): Promise<number[]> {
    const waits: TtlWait[] = []
    const ttls = Promise.all(
      keys.map((key) => new Promise<number>((resolve, reject) => waits.push({ key, resolve, reject }))),
    )
    if (waits.length > 0) void this.#sendTtls(waits)
    return ttls
  }

  readsManyAtOnce(): boolean {
    return this.#topology.current?.oneConnection === true
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return []
    const topology = this.#topology.current ?? (await this.#topology.get())
    // One server: the MGET reply is already in the caller's order; nothing else is allocated
    // here (at high concurrency, whatever a read holds while it waits is what GC has to copy).
    if (topology.oneConnection) return getOnOneConnection(topology, keys)
    const batches = await topology.batches(keys)
    if (batches.length === 1) {
      // One node (one slot on a cluster): a plain MGET, without building a pipeline.
      const only = batches[0]!
      return inCallerOrder(keys.length, batches, [await topology.getMany(only.keys)])
    }
    const replies = await topology.pipeline(batches, (pipe, batch) => pipe.mget(...batch.keys), 'read')
    return inCallerOrder(
      keys.length,
      batches,
      replies.map((reply) => reply[0] as (string | null)[]),
    )
  }

  set(
    key: string,
    value: string,
    ttl: number | undefined,
    unlessLiveAt?: number,
    stale?: string,
  ): Promise<SetReply> {
    if (unlessLiveAt === undefined) return this.#topology.write(key, { value, ttl }) as Promise<SetReply>
    const args = unlessLiveArgs(value, ttl, unlessLiveAt)
    if (stale !== undefined) args.push(stale)
    return this.#topology.run(key, (client) => SET_UNLESS_LIVE.run(client, [key], args)).then(isOk)
  }

  async setMany(items: readonly WriteItem[], written?: () => void): Promise<boolean[]> {
    const out = new Array<boolean>(items.length).fill(false)
    if (items.length === 0) return out
    const topology = await this.#topology.get()
    const batches = await topology.batches(items.map((item) => item.key))
    const writing = topology.pipeline(batches, (pipe, batch) => {
      for (const index of batch.indexes) {
        const { key, value, ttl, unlessLiveAt } = items[index]!
        if (unlessLiveAt === undefined) pipe.call('set', ...setArguments(key, { value, ttl }))
        // With its source: a pipeline cannot tell whether the node ran it yet (call order).
        else pipeScript(pipe, SET_UNLESS_LIVE, [key], unlessLiveArgs(value, ttl, unlessLiveAt), true)
      }
    })
    const replies = await inOrderOf(topology, writing, written)
    batches.forEach((batch, i) => {
      batch.indexes.forEach((index, n) => {
        out[index] = replies[i]![n] === 'OK'
      })
    })
    return out
  }

  async delete(key: string): Promise<boolean> {
    return (await this.#topology.run(key, (client) => client.unlink(key))) > 0
  }

  async deleteMany(keys: readonly string[], written?: () => void): Promise<number> {
    if (keys.length === 0) return 0
    const topology = await this.#topology.get()
    const batches = await topology.batches([...new Set(keys)])
    const deleting = topology.pipeline(batches, (pipe, batch) => pipe.unlink(...batch.keys))
    const replies = await inOrderOf(topology, deleting, written)
    return replies.reduce((sum, reply) => sum + Number(reply[0]), 0)
  }

  async increment(key: string, by: number, ttl: number | undefined): Promise<number> {
    // One script, so that a step past 2^53 - 1 is refused without ever being seen (see the store's).
    const reply = await this.#topology.run(key, (client) =>
      INCREMENT_WITH_TTL.run(client, [key], [by, ttl ?? '']),
    )
    return Number(reply)
  }

  async bump(key: string): Promise<number> {
    const version = newTagVersion()
    // KEEPTTL: as INCR did, a TTL another client gave the key stays.
    await this.#topology.run(key, (client) => client.call('SET', key, String(version), 'KEEPTTL'))
    return version
  }

  async establish(key: string, version: number): Promise<number> {
    // SET NX, then GET of what another process set first: SET NX GET would need Redis 7.0.
    for (;;) {
      if ((await this.#topology.run(key, (client) => client.set(key, String(version), 'NX'))) === 'OK') {
        return version
      }
      const held = await this.#topology.run(key, (client) => client.get(key))
      if (held !== null) return Number(held)
    }
  }

  async deleteMatching(
    prefix: string,
    glob: string,
    others: ((rest: string) => boolean) | undefined,
    removed: (count: number) => void,
  ): Promise<void> {
    const topology = await this.#topology.get()
    const pattern = escapeGlob(prefix) + glob
    const { masters, unconnected } = await mastersToScan(topology)
    // One part per master, and a failed one per master it cannot reach: a failure beside parts
    // that deleted keys is partly applied (outcome unknown), never "not applied".
    await everyPart([
      ...unconnected.map((down) => Promise.reject(down)),
      ...masters.map(async (master) => {
        let cursor = '0'
        do {
          const [next, found] = await master.client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
          cursor = next
          // The pattern already starts with the escaped prefix; the check is a second guard
          // that nothing outside the cache namespace is ever deleted.
          const keys = found.filter((key) => key.startsWith(prefix) && !others?.(key.slice(prefix.length)))
          if (keys.length === 0) continue
          removed(await unlinkFound(topology, master, keys))
        } while (cursor !== '0')
      }),
    ])
  }

  async lock(key: string, token: string, ttl: number): Promise<boolean> {
    return (await this.#topology.run(key, (client) => TAKE_FILL_LOCK.run(client, [key], [token, ttl]))) === 1
  }

  async unlock(key: string, token: string): Promise<void> {
    await this.#topology.run(key, (client) => RELEASE_FILL_LOCK.run(client, [key], [token]))
  }
}

/**
 * UNLINKs keys a SCAN of `master` found; the count removed. A key the topology places on that
 * master goes the way its other commands go (its connection, in order with them; on a cluster,
 * where its slot is now). On a ring, a key the ring places on another server (written before a
 * server was added, or by another client) is on `master` even so: it is unlinked there, or it
 * would outlive every clear.
 */
async function unlinkFound(topology: RedisTopology, master: MasterNode, keys: string[]): Promise<number> {
  let placed = keys
  const elsewhere: string[] = []
  if (topology.kind === 'sharded') {
    placed = []
    for (const key of keys) (topology.nodeOf(key) === master.id ? placed : elsewhere).push(key)
  }
  let removed = 0
  if (placed.length > 0) {
    const replies = await topology.pipeline(await topology.batches(placed), (pipe, batch) =>
      pipe.unlink(...batch.keys),
    )
    removed += replies.reduce((sum, reply) => sum + Number(reply[0]), 0)
  }
  if (elsewhere.length > 0) removed += Number(await master.client.call('UNLINK', ...elsewhere))
  return removed
}

const isOk = (reply: unknown): boolean => reply === 'OK'

/** ARGV of set-unless-live-1.lua. */
function unlessLiveArgs(value: string, ttl: number | undefined, now: number): (string | number)[] {
  return [now, value, ttl ?? '']
}

/** A near-cache fill waiting for its key's PTTL (RedisCacheBackend's tick of them). */
interface TtlWait {
  readonly key: string
  resolve(ttl: number): void
  reject(error: unknown): void
}
