import { messageOf } from '../errors.ts'
import { TopologyHandle } from '../topology/handle.ts'
import { perKey } from '../topology/pipeline.ts'
import { Script } from '../topology/script.ts'
import type { RedisTopology } from '../topology/types.ts'
import { NOT_AN_INTEGER, type StoreBackend } from './backend.ts'

// INCRBY(FLOAT) and "expire only if no TTL yet" in one atomic step (PTTL -1: no expiry).
const INCREMENT_WITH_TTL = new Script(`
local value = redis.call(ARGV[3], KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`)

// Compare-and-set on the raw text: the write happens only if nobody changed the key since it
// was read. ARGV: expected-missing flag, expected text, delete flag, next text, ttl ('' = keep).
const COMPARE_AND_SET = new Script(`
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
end
return 1`)

/** Store commands: GET/SET/UNLINK/SET NX/INCRBY, MGET and SET per node in one pipeline each. */
export class RedisStoreBackend implements StoreBackend {
  readonly #topology: TopologyHandle

  constructor(connect: () => Promise<RedisTopology>) {
    this.#topology = new TopologyHandle(connect)
  }

  #client(key: string) {
    return this.#topology.client(key)
  }

  get(key: string): Promise<string | null> {
    return this.#topology.run(key, (client) => client.get(key))
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return perKey(await this.#topology.get(), keys, (client, batch) => client.mget(...batch))
  }

  async set(key: string, text: string, ttl?: number): Promise<void> {
    const client = await this.#client(key)
    if (ttl === undefined) await client.set(key, text)
    else await client.set(key, text, 'PX', ttl)
  }

  async setMany(entries: readonly [string, string][], ttl?: number): Promise<void> {
    const topology = await this.#topology.get()
    const texts = new Map(entries)
    const batches = await topology.batches([...texts.keys()])
    await topology.pipeline(batches, (pipe, batch) => {
      if (ttl === undefined) pipe.mset(...batch.keys.flatMap((key) => [key, texts.get(key)!]))
      else for (const key of batch.keys) pipe.set(key, texts.get(key)!, 'PX', ttl)
    })
  }

  async delete(key: string): Promise<boolean> {
    return (await (await this.#client(key)).unlink(key)) > 0
  }

  async setIfNotExists(key: string, text: string, ttl?: number): Promise<boolean> {
    const client = await this.#client(key)
    const reply =
      ttl === undefined ? await client.set(key, text, 'NX') : await client.set(key, text, 'PX', ttl, 'NX')
    return reply === 'OK'
  }

  async increment(key: string, by: number, ttl?: number): Promise<number> {
    const client = await this.#client(key)
    const add = (command: 'INCRBY' | 'INCRBYFLOAT') =>
      ttl === undefined
        ? client.call(command, key, by)
        : INCREMENT_WITH_TTL.run(client, [key], [by, ttl, command])
    if (!Number.isInteger(by)) return Number(await add('INCRBYFLOAT'))
    try {
      return Number(await add('INCRBY'))
    } catch (error) {
      // The counter holds a fraction from an earlier fractional step: add as a float instead.
      if (!messageOf(error).includes(NOT_AN_INTEGER)) throw error
      return Number(await add('INCRBYFLOAT'))
    }
  }

  async compareAndSet(
    key: string,
    expected: string | undefined,
    next: string | undefined,
    ttl?: number,
  ): Promise<boolean> {
    const args = [
      expected === undefined ? '1' : '0',
      expected ?? '',
      next === undefined ? '1' : '0',
      next ?? '',
      ttl ?? '',
    ]
    return (await COMPARE_AND_SET.run(await this.#client(key), [key], args)) === 1
  }
}
