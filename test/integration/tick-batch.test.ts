/**
 * The GETs and SETs of one tick to one server go out as one step per run of one kind
 * (src/topology/tick-batch.ts), and each step answers every call as its own command would, in
 * call order (SPEC §2, §3).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { CommandError, createFleet, type Fleet } from '../../src/index.ts'
import { monitorServer } from '../harness/monitor.ts'
import { redisProxy } from '../harness/redis-proxy.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** Calls of `command` the server has run, from INFO commandstats. */
async function calls(raw: Redis, command: string): Promise<number> {
  const stats = (await raw.info('commandstats')) as string
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
}

describe('reads and writes of one tick (standalone)', () => {
  let server: RedisServer
  let raw: Redis
  const fleets: Fleet[] = []
  const open = (namespace = uniqueNamespace(), commandTimeout?: number) => {
    const fleet = createFleet({ url: server.url, namespace, ...(commandTimeout ? { commandTimeout } : {}) })
    fleets.push(fleet)
    return fleet
  }

  /**
   * Starts watching the MGETs naming `namespace`; the function it returns gives their keys (names
   * without the namespace) once the server has shown all it ran so far.
   */
  const monitorMgets = async (namespace: string) => {
    const prefix = `${namespace}:store:`
    const seen: string[][] = []
    let marked: () => void = () => undefined
    const socket = await monitorServer(server.url, (args) => {
      if (args[0] === 'echo' && args[1] === `${namespace}:marker`) marked()
      else if (args[0] === 'mget' && args[1]?.startsWith(prefix))
        seen.push(args.slice(1).map((key) => key.slice(prefix.length)))
    })
    return async () => {
      const reached = new Promise<void>((resolve) => {
        marked = resolve
      })
      await raw.echo(`${namespace}:marker`)
      await reached
      socket.destroy()
      return seen
    }
  }

  before(async () => {
    server = await startRedis()
    raw = new Redis(server.url)
  })
  after(async () => {
    await Promise.all(fleets.map((fleet) => fleet.close()))
    raw.disconnect()
    await server.stop()
  })

  test('go to Redis as one step, however many there are, and a lone read as a GET', async () => {
    const store = open().store<number>()
    await store.setMany(Array.from({ length: 100 }, (_, i): [string, number] => [`k${i}`, i]))
    await raw.config('RESETSTAT')
    const values = await Promise.all(Array.from({ length: 100 }, (_, i) => store.get(`k${i}`)))
    assert.deepEqual(
      values,
      Array.from({ length: 100 }, (_, i) => i),
    )
    assert.equal(await calls(raw, 'get'), 0)
    assert.equal(await calls(raw, 'mget'), 2, 'two steps of at most 64 keys')
    assert.equal(await calls(raw, 'exec'), 0, 'every key found: a bare MGET')
    assert.equal(await store.get('k7'), 7)
    assert.equal(await calls(raw, 'get'), 1, 'a lone read is a plain GET')
    assert.equal(await calls(raw, 'mget'), 2)
  })

  test('a step that finds a key missing asks EXISTS after it; the next steps count the keys in their transaction until one finds every key', async () => {
    const store = open().store<number>()
    await store.setMany(Array.from({ length: 10 }, (_, i): [string, number] => [`k${i}`, i]))
    await raw.config('RESETSTAT')
    const every = async () =>
      assert.deepEqual(
        await Promise.all(Array.from({ length: 10 }, (_, i) => store.get(`k${i}`))),
        Array.from({ length: 10 }, (_, i) => i),
      )
    const counted = async () => [await calls(raw, 'exists'), await calls(raw, 'exec')]
    await every()
    assert.deepEqual(await counted(), [0, 0], 'a bare MGET')
    assert.deepEqual(await Promise.all([store.get('k0'), store.get('gone')]), [0, undefined])
    assert.deepEqual(await counted(), [1, 0], 'EXISTS after the MGET')
    assert.deepEqual(await Promise.all([store.get('k1'), store.get('gone')]), [1, undefined])
    assert.deepEqual(await counted(), [2, 1], 'EXISTS with the MGET, in one transaction')
    await every()
    assert.deepEqual(await counted(), [3, 2], 'still counted: the step before missed')
    await every()
    assert.deepEqual(await counted(), [3, 2], 'a bare MGET again')
    assert.equal(await calls(raw, 'get'), 0)
  })

  test('a read that found its key missing answers undefined though a write made after it reaches Redis before the read is asked again', async () => {
    const store = open().store<number>()
    await store.set('here', 1)
    // One step of two reads, a bare MGET; the write's step goes out before its EXISTS and GET.
    const reads = Promise.all([store.get('here'), store.get('later')])
    const write = store.set('later', 2)
    assert.deepEqual(await reads, [1, undefined])
    await write
    assert.equal(await store.get('later'), 2)
  })

  test('a read that found its key missing answers undefined though the connection drops before it is asked again; a later write is not read', async () => {
    const proxy = await redisProxy(server.port)
    try {
      for (const kind of ['store', 'cache'] as const) {
        const fleet = createFleet({ url: proxy.url, namespace: uniqueNamespace(), onError: () => undefined })
        fleets.push(fleet)
        const store = fleet.store<number>()
        const cache = fleet.cache({ errorHandler: () => undefined })
        const get = (key: string) => (kind === 'store' ? store.get(key) : cache.read(key))
        const set = (key: string, value: number) =>
          kind === 'store' ? store.set(key, value) : cache.write(key, value)
        await set('here', 1)
        proxy.dropAt('EXISTS')
        // One step of two reads (a bare MGET); the write's step goes out in the next tick, before
        // the EXISTS of the key the MGET found missing, whose connection is dropped. Failed, the
        // read was retried after the write and read it (helper-254).
        const reads = Promise.all([get('here'), get('later')])
        await new Promise((resolve) => setImmediate(resolve))
        const write = set('later', 7)
        assert.deepEqual(await reads, [1, undefined], kind)
        await write
        assert.equal(proxy.dropped, kind === 'store' ? 1 : 2, 'the connection was dropped at the EXISTS')
        assert.equal(await get('later'), 7)
      }
    } finally {
      await proxy.close()
    }
  })

  test('the first write step on a server that does not hold its script is still sent before a later read', async () => {
    await raw.script('FLUSH')
    const store = open().store<string>()
    await store.set('x', 'before')
    // Two writes with a TTL share a step (a script); the read after them is made in the same tick.
    const first = store.set('x', 'after', { ttl: 60_000 })
    const second = store.set('y', 'y', { ttl: 60_000 })
    const read = store.get('x')
    assert.equal(await read, 'after')
    await Promise.all([first, second])
  })

  test('a key holding another type fails its own read with WRONGTYPE; the others in its step are read', async () => {
    const namespace = uniqueNamespace()
    const fleet = open(namespace)
    const store = fleet.store<number>()
    await store.set('n', 1)
    await raw.hset(`${namespace}:store:h`, 'f', 'v')
    const [number, wrong, missing] = await Promise.allSettled([
      store.get('n'),
      store.get('h'),
      store.get('none'),
    ])
    assert.deepEqual(number, { status: 'fulfilled', value: 1 })
    assert.deepEqual(missing, { status: 'fulfilled', value: undefined })
    assert.equal(wrong.status, 'rejected')
    const error = (wrong as PromiseRejectedResult).reason
    assert.ok(error instanceof CommandError, String(error))
    assert.match(error.message, /WRONGTYPE/)
    assert.match(error.message, /'h'/, 'names the caller’s key')
    assert.equal(await raw.type(`${namespace}:store:h`), 'hash', 'the hash is left as it was')

    // The cache reports it to its errorHandler and answers a miss, as for a lone GET.
    const reported: unknown[] = []
    const cache = fleet.cache({ errorHandler: ({ exception }) => reported.push(exception) })
    await raw.hset(`${namespace}:cache:h`, 'f', 'v')
    await cache.write('ok', 1)
    assert.deepEqual(await Promise.all([cache.read('h'), cache.read('ok')]), [undefined, 1])
    assert.equal(reported.length, 1)
    assert.match(String(reported[0]), /WRONGTYPE/)
    assert.equal(await raw.type(`${namespace}:cache:h`), 'hash')
  })

  test('writes go to Redis as one step, a lone write as a SET; TTL and NX hold per key', async () => {
    const namespace = uniqueNamespace()
    const fleet = open(namespace)
    const store = fleet.store<number>()
    await raw.config('RESETSTAT')
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.set(`w${i}`, i, i % 2 ? { ttl: 60_000 } : {})),
    )
    // commandstats counts the SETs a script runs too: one per write, in two steps.
    assert.equal(await calls(raw, 'set'), 100)
    assert.equal((await calls(raw, 'eval')) + (await calls(raw, 'evalsha')), 2)
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.set(`p${i}`, i)))
    assert.equal(await calls(raw, 'set'), 100, 'writes without TTL: no SET')
    assert.equal(await calls(raw, 'mset'), 2, 'but two MSETs')
    assert.equal(await store.get('p99'), 99)
    assert.equal(await raw.get(`${namespace}:store:w7`), '7')
    assert.equal(await raw.pttl(`${namespace}:store:w8`), -1, 'no ttl')
    const ttl = await raw.pttl(`${namespace}:store:w9`)
    assert.ok(ttl > 0 && ttl <= 60_000, `ttl ${ttl}`)

    const cache = fleet.cache()
    await cache.write('taken', 'first')
    const writes = await Promise.all([
      cache.write('taken', 'second', { unlessExist: true }),
      cache.write('free', 'one', { unlessExist: true }),
      cache.write('plain', 'two'),
    ])
    assert.deepEqual(writes, [false, true, true])
    assert.deepEqual(
      await cache.readMulti(['taken', 'free', 'plain']),
      new Map([
        ['taken', 'first'],
        ['free', 'one'],
        ['plain', 'two'],
      ]),
    )
  })

  test('calls of one tick apply in call order: reads and writes of one key, interleaved', async () => {
    const store = open().store<number>()
    await store.set('k', 0)
    // Not awaited: each read sees the writes made before it and none made after it.
    const seen = []
    for (let i = 1; i <= 5; i++) {
      seen.push(store.get('k'), store.get('other'))
      void store.set('k', i)
      void store.set('another', i)
    }
    seen.push(store.get('k'))
    assert.deepEqual(
      (await Promise.all(seen)).filter((_, n) => n % 2 === 0),
      [0, 1, 2, 3, 4, 5],
    )
  })

  test('multi-key reads of one tick go to Redis as one MGET, calls asking for the same keys sharing them, each call answered in its own key order', async () => {
    const namespace = uniqueNamespace()
    const fleet = open(namespace)
    const store = fleet.store<{ n: number }>()
    await store.setMany(Array.from({ length: 5 }, (_, i): [string, { n: number }] => [`k${i}`, { n: i }]))
    await raw.config('RESETSTAT')
    const mgets = await monitorMgets(namespace)
    const [first, second, third, fourth] = await Promise.all([
      store.getMany(['k0', 'k1', 'none']),
      store.getMany(['k1', 'k0', 'k1']),
      store.getMany(['k4']),
      store.getMany(['k0', 'k1', 'none']),
    ])
    assert.deepEqual(first, [{ n: 0 }, { n: 1 }, undefined])
    assert.deepEqual(second, [{ n: 1 }, { n: 0 }, { n: 1 }])
    assert.deepEqual(third, [{ n: 4 }])
    assert.deepEqual(fourth, first)
    // The fourth call asks for the first one's keys: it shares their run instead of adding one.
    assert.deepEqual(await mgets(), [['k0', 'k1', 'none', 'k1', 'k0', 'k1', 'k4']])
    assert.equal(await calls(raw, 'mget'), 1, 'one MGET for the four calls')
    assert.equal(await calls(raw, 'get'), 0)
    // Each caller has values of its own, even of a key another call (or itself) asked for too.
    first[0]!.n = 99
    second[0]!.n = 98
    assert.deepEqual(second, [{ n: 98 }, { n: 0 }, { n: 1 }])
    assert.deepEqual(fourth, [{ n: 0 }, { n: 1 }, undefined])

    // The cache's readMulti calls share the step as well.
    const cache = fleet.cache()
    await cache.writeMulti({ a: 1, b: 2 })
    await raw.config('RESETSTAT')
    const maps = await Promise.all([cache.readMulti(['a', 'b']), cache.readMulti(['b', 'c'])])
    assert.deepEqual(maps, [
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
      new Map([['b', 2]]),
    ])
    assert.equal(await calls(raw, 'mget'), 1)

    // A lone call is its own MGET of its keys, as given.
    await raw.config('RESETSTAT')
    assert.deepEqual(await store.getMany(['k2', 'k2']), [{ n: 2 }, { n: 2 }])
    assert.equal(await calls(raw, 'mget'), 1)
  })

  test('a multi-key read sees the writes made before it in its tick and none made after it', async () => {
    const store = open().store<number>()
    await store.setMany([
      ['x', 0],
      ['y', 0],
    ])
    const before = store.getMany(['x', 'y'])
    void store.set('x', 1)
    const between = store.getMany(['x', 'y'])
    void store.setMany([['y', 2]])
    const last = store.getMany(['y', 'x'])
    assert.deepEqual(await Promise.all([before, between, last]), [
      [0, 0],
      [1, 0],
      [2, 1],
    ])
  })

  test('a multi-key read of more keys than one command takes goes out in several; the reads of its tick are answered', async () => {
    // No command may time out and be sent again: the commands are counted.
    const store = open(uniqueNamespace(), 30_000).store<number>()
    await store.set('a', 1)
    // 300,000 keys: spread into one call's arguments they would overflow the stack.
    const huge = Array.from({ length: 300_000 }, (_, i) => `huge-${i}`)
    await raw.config('RESETSTAT')
    const [small, big] = await Promise.all([store.getMany(['a']), store.getMany([...huge, 'a'])])
    assert.deepEqual(small, [1])
    assert.equal(big.length, 300_001)
    assert.equal(big[300_000], 1)
    assert.equal(big.filter((value) => value !== undefined).length, 1)
    assert.equal(
      await calls(raw, 'mget'),
      32,
      'the small read, and the big one in 31 MGETs of at most 10,000 keys',
    )
  })
})
