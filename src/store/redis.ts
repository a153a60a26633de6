import { type Durability, pipeScript, writeDurably } from '../durability.ts'
import type { TopologyHandle } from '../topology/handle.ts'
import { commandChunks, connectionOf, everyPart, getPerBatch } from '../topology/pipeline.ts'
import type { Script } from '../topology/script.ts'
import { setArguments } from '../topology/tick-batch.ts'
import type { Client } from '../topology/types.ts'
import type { CommandPipeline } from '../transport/types.ts'
import { inOrderOf } from '../written.ts'
import type { StoreBackend, TokenWrite } from './backend.ts'
import { CLAIM, COMPARE_AND_SET, INCREMENT_WITH_TTL } from './scripts.ts'

/**
 * Store commands: GET/SET/UNLINK, the claim, counter and compare-and-set scripts, MGET and SETs
 * per node in one pipeline each. A write with `durability` is pipelined with its WAIT.
 * Single-key commands take their place on the connection before a method returns once the
 * topology is built (GETs, SETs and, on one server, MGETs leave at the end of the tick, ahead of
 * any command made after them: TickBatch); multi-key ones too on one server (see
 * StoreBackend.sendsAtOnce).
 */
export class RedisStoreBackend implements StoreBackend {
  readonly #topology: TopologyHandle

  /** `topology`: the fleet's one hold on it (FleetContext.redisHandle). */
  constructor(topology: TopologyHandle) {
    this.#topology = topology
  }

  sendsAtOnce(many: boolean): boolean {
    const topology = this.#topology.current
    return topology !== undefined && (!many || topology.oneConnection)
  }

  get(key: string): Promise<string | null> {
    return this.#topology.read(key)
  }

  async getMany(keys: readonly string[], written?: () => void): Promise<(string | null)[]> {
    const topology = this.#topology.current ?? (await this.#topology.get())
    return getPerBatch(topology, keys, written)
  }

  set(key: string, text: string, ttl?: number, durability?: Durability): Promise<unknown> {
    if (durability === undefined) return this.#topology.write(key, { value: text, ttl })
    return this.#topology.run<unknown>(key, (client) =>
      writeDurably(client, durability, durability.where ?? `store.set '${key}'`, (pipe) => {
        pipe.call('set', ...setArguments(key, { value: text, ttl }))
      }),
    )
  }

  async setMany(
    entries: readonly [string, string][],
    ttl?: number,
    durability?: Durability,
    written?: () => void,
  ): Promise<void> {
    const texts = new Map(entries)
    const write = (pipe: CommandPipeline, keys: readonly string[]) => {
      if (ttl !== undefined) for (const key of keys) pipe.set(key, texts.get(key)!, 'PX', ttl)
      else
        for (const chunk of commandChunks(keys)) pipe.mset(...chunk.flatMap((key) => [key, texts.get(key)!]))
    }
    const where = 'store.setMany'
    const topology = this.#topology.current ?? (await this.#topology.get())
    const keys = [...texts.keys()]
    if (topology.oneConnection) {
      const writing = writeDurably(topology.client(keys[0]!), durability, where, (pipe) => write(pipe, keys))
      written?.()
      await writing
      return
    }
    // One pipeline per node and lane (connectionOf; a command per batch: one slot on a cluster),
    // its WAIT after them all.
    const byNode = new Map<string, { client: Client; batches: (readonly string[])[] }>()
    for (const batch of await topology.batches(keys)) {
      const connection = connectionOf(batch)
      const node = byNode.get(connection)
      if (node) node.batches.push(batch.keys)
      else byNode.set(connection, { client: topology.batchClient(batch), batches: [batch.keys] })
    }
    const parts = [...byNode.values()].map((node) =>
      writeDurably(node.client, durability, where, (pipe) => {
        for (const batch of node.batches) write(pipe, batch)
      }),
    )
    await inOrderOf(topology, everyPart(parts), written)
  }

  async delete(key: string): Promise<boolean> {
    return (await this.#topology.run(key, (client) => client.unlink(key))) > 0
  }

  async claim({
    key,
    tokenKey,
    token,
    tokenTtl,
    text,
    ttl,
    durability,
  }: TokenWrite & { text: string; ttl?: number }) {
    const args = [text, token, ttl ?? '', tokenTtl]
    return (await this.#script(CLAIM, [key, tokenKey], args, durability, 'store.setIfNotExists', isOne)) === 1
  }

  async increment(key: string, by: number, ttl?: number, durability?: Durability): Promise<number> {
    // One script: the step as INCRBYFLOAT adds it, refused and undone in the same step when the
    // sum is past 2^53 - 1 (a plain INCRBYFLOAT undone by a second command let other calls see,
    // or delete, the refused sum in between), and the TTL if the key has none.
    const args = [by, ttl ?? '', 'float']
    return Number(await this.#script(INCREMENT_WITH_TTL, [key], args, durability, 'store.increment'))
  }

  async compareAndSet(
    write: TokenWrite & { expected: string | undefined; next: string | undefined; ttl?: number },
  ): Promise<boolean> {
    const { key, tokenKey, token, tokenTtl, expected, next, ttl, durability } = write
    const args = [
      expected === undefined ? '1' : '0',
      expected ?? '',
      next === undefined ? '1' : '0',
      next ?? '',
      ttl ?? '',
      token,
      tokenTtl,
    ]
    return (
      (await this.#script(COMPARE_AND_SET, [key, tokenKey], args, durability, 'store.update', isOne)) === 1
    )
  }

  /**
   * Runs a script on the node of `keys[0]`, pipelined with its WAIT when durability asks; `wrote`
   * says from its reply whether it wrote (a lost claim or a conflict did not: nothing to wait for).
   */
  #script(
    script: Script,
    keys: readonly string[],
    args: readonly (string | number)[],
    durability: Durability | undefined,
    op: string,
    wrote: (reply: unknown) => boolean = () => true,
  ): Promise<unknown> {
    return this.#topology.run(keys[0]!, async (client) => {
      if (durability === undefined) return script.run(client, keys, args)
      // With its source until it ran there, as Script.run sends it (call order).
      const source = !script.ranOn(client, keys[0]!)
      const [reply] = await writeDurably(
        client,
        durability,
        durability.where ?? `${op} '${keys[0]}'`,
        (pipe, withSource) => pipeScript(pipe, script, keys, args, withSource || source),
        ([written]) => wrote(written),
      )
      if (source) script.ran(client, keys[0]!)
      return reply
    })
  }
}

/** The claim and compare-and-set scripts answer 1 when they wrote. */
const isOne = (reply: unknown) => reply === 1
