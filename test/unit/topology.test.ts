/**
 * The topologies' routing on fake clients, where no server can hide a wrong node: which
 * connection a key goes to, how keys are batched per node (ring) or slot (cluster), how per-node
 * pipelines hand replies back per batch, the EVALSHA → EVAL fallback, and the topology handle.
 * The connection plumbing (reconnects, health) is the fault tests' business.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import calculateSlot from 'cluster-key-slot'
import type { Cluster, Redis } from 'ioredis'
import { ReplyError } from 'ioredis'
import { ConfigError, ConnectionError } from '../../src/errors.ts'
import { ClusterTopology } from '../../src/topology/cluster.ts'
import { reconnectDelay } from '../../src/topology/connection.ts'
import { TopologyHandle } from '../../src/topology/handle.ts'
import type { IORedisModule } from '../../src/topology/ioredis.ts'
import {
  connectionOf,
  getPerBatch,
  groupKeys,
  inCallerOrder,
  MAX_COMMAND_KEYS,
  pipelinePerNode,
} from '../../src/topology/pipeline.ts'
import { HashRing } from '../../src/topology/ring.ts'
import { Script, scriptFile } from '../../src/topology/script.ts'
import { ShardedTopology } from '../../src/topology/sharded.ts'
import { keySlot } from '../../src/topology/slot.ts'
import { TickBatch } from '../../src/topology/tick-batch.ts'
import type { Client, KeyBatch, RedisTopology } from '../../src/topology/types.ts'

/** A pipeline that records its commands and replies with what the test says. */
class FakePipeline {
  readonly commands: string[] = []
  constructor(readonly reply: (command: string) => [Error | null, unknown]) {}
  get length(): number {
    return this.commands.length
  }
  get(key: string): this {
    this.commands.push(key)
    return this
  }
  async exec(): Promise<[Error | null, unknown][] | null> {
    return this.commands.map(this.reply)
  }
}

/** A connection that records what is asked of it; never opens a socket. */
class FakeRedis extends EventEmitter {
  status = 'wait'
  readonly calls: string[] = []
  readonly pipelines: FakePipeline[] = []
  readonly stream = undefined
  constructor(
    readonly url: string,
    readonly options: Record<string, unknown> & { host?: string; port?: number; db?: number },
  ) {
    super()
  }
  async connect(): Promise<void> {
    this.calls.push('connect')
    this.status = 'ready'
  }
  async ping(): Promise<string> {
    this.calls.push('ping')
    return 'PONG'
  }
  /** CLUSTER INFO, as a cluster's ready() asks it of every master: a cluster that serves. */
  async call(...args: string[]): Promise<string> {
    this.calls.push(args.join(' ').toLowerCase())
    return 'cluster_state:ok\r\ncluster_slots_assigned:16384\r\n'
  }
  /** INFO cluster, as a standalone or ring ready() asks it of each server: not a cluster node. */
  async info(section: string): Promise<string> {
    this.calls.push(`info ${section}`)
    return '# Cluster\r\ncluster_enabled:0\r\n'
  }
  async quit(): Promise<string> {
    this.calls.push('quit')
    this.status = 'end'
    return 'OK'
  }
  disconnect(): void {
    this.calls.push('disconnect')
    this.status = 'end'
  }
  pipeline(): FakePipeline {
    const pipe = new FakePipeline((key) => [null, `${this.url}:${key}`])
    this.pipelines.push(pipe)
    return pipe
  }
  duplicate(options: Record<string, unknown>): FakeRedis {
    return new FakeRedis(`${this.url}#dup`, { ...this.options, ...options })
  }
}

/** An ioredis module whose Redis class makes fakes, each kept for the test to inspect. */
function fakeIORedis(): { module: IORedisModule; made: FakeRedis[] } {
  const made: FakeRedis[] = []
  class Made extends FakeRedis {
    constructor(url: string, options: Record<string, unknown>) {
      super(url, options)
      made.push(this)
    }
  }
  return { module: { Redis: Made } as unknown as IORedisModule, made }
}

const settings = {
  connectTimeout: 500,
  commandTimeout: 700,
  reconnectAttempts: 1,
  poolSize: 2,
  onError: () => {},
}

const address = (port: number) => ({ url: `redis://h:${port}/0`, id: `h:${port}/0` })
const keys = Array.from({ length: 60 }, (_, i) => `key:${i}`)

test('groupKeys: a place with more than MAX_COMMAND_KEYS keys gets several batches, in input order', () => {
  const keys = Array.from({ length: 2 * MAX_COMMAND_KEYS + 5 }, (_, i) => `k${i}`)
  const batches = groupKeys(
    ['other', ...keys],
    (key) => (key === 'other' ? 'b' : 'a'),
    (key) => ({ node: key === 'other' ? 'b' : 'a', lane: 0 }),
  )
  assert.deepEqual(
    batches.map((batch) => [batch.node, batch.keys.length, batch.indexes[0]]),
    [
      ['b', 1, 0],
      ['a', MAX_COMMAND_KEYS, 1],
      ['a', MAX_COMMAND_KEYS, MAX_COMMAND_KEYS + 1],
      ['a', 5, 2 * MAX_COMMAND_KEYS + 1],
    ],
  )
})

test('groupKeys: one batch per place, keys and their input positions in order', () => {
  const batches = groupKeys(
    ['a1', 'b1', 'a2', 'c1', 'b2'],
    (key) => key[0]!,
    (key) => ({ node: `node-${key[0]}`, lane: key.charCodeAt(0) % 2 }),
  )
  assert.deepEqual(batches, [
    { node: 'node-a', lane: 1, keys: ['a1', 'a2'], indexes: [0, 2] },
    { node: 'node-b', lane: 0, keys: ['b1', 'b2'], indexes: [1, 4] },
    { node: 'node-c', lane: 1, keys: ['c1'], indexes: [3] },
  ])
})

test('inCallerOrder: per-batch replies go back to the positions of their keys', () => {
  const batches: KeyBatch[] = [
    { node: 'x', lane: 0, keys: ['a1', 'a2'], indexes: [0, 2] },
    { node: 'y', lane: 0, keys: ['b1'], indexes: [1] },
  ]
  assert.deepEqual(inCallerOrder(3, batches, [['A1', 'A2'], ['B1']]), ['A1', 'B1', 'A2'])
})

test('pipelinePerNode: batches of one node and lane share one pipeline; replies come back per batch', async () => {
  const connections = new Map(['a', 'b', 'a#1'].map((name) => [name, new FakeRedis(name, {})]))
  const batches: KeyBatch[] = [
    { node: 'a', lane: 0, keys: ['k1', 'k2'], indexes: [0, 1] },
    { node: 'b', lane: 0, keys: ['k3'], indexes: [2] },
    { node: 'a', lane: 1, keys: ['k5'], indexes: [4] },
    { node: 'a', lane: 0, keys: ['k4'], indexes: [3] },
  ]
  const replies = await pipelinePerNode(
    batches,
    (batch) => connections.get(connectionOf(batch)) as unknown as Client,
    (pipe, batch) => {
      for (const key of batch.keys) pipe.get(key)
    },
  )
  assert.deepEqual(replies, [['a:k1', 'a:k2'], ['b:k3'], ['a#1:k5'], ['a:k4']])
  for (const connection of connections.values()) assert.equal(connection.pipelines.length, 1)
  assert.deepEqual(connections.get('a')!.pipelines[0]!.commands, ['k1', 'k2', 'k4'])
})

test('pipelinePerNode: a failed command rejects the call', async () => {
  const failing = new FakeRedis('a', {})
  failing.pipeline = () => {
    const pipe = new FakePipeline((key) => (key === 'bad' ? [new Error('WRONGTYPE'), null] : [null, 1]))
    failing.pipelines.push(pipe)
    return pipe
  }
  await assert.rejects(
    pipelinePerNode(
      [{ node: 'a', lane: 0, keys: ['ok', 'bad'], indexes: [0, 1] }],
      () => failing as unknown as Client,
      (pipe, batch) => {
        for (const key of batch.keys) pipe.get(key)
      },
    ),
    /WRONGTYPE/,
  )
})

test('pipelinePerNode: a pipeline that replies nothing (exec gave null) yields empty batches', async () => {
  const silent = new FakeRedis('a', {})
  silent.pipeline = () => {
    const pipe = new FakePipeline(() => [null, 1])
    pipe.exec = async () => null
    return pipe
  }
  const replies = await pipelinePerNode(
    [{ node: 'a', lane: 0, keys: ['k'], indexes: [0] }],
    () => silent as unknown as Client,
    (pipe, batch) => {
      pipe.get(batch.keys[0]!)
    },
  )
  assert.deepEqual(replies, [[]])
})

/** A topology stand-in for getPerBatch: one connection or not, batches by first letter; records MGETs. */
function mgetTopology(oneConnection: boolean, sent: (readonly string[])[]): RedisTopology {
  return {
    oneConnection,
    getMany: async (list: readonly string[]) => {
      sent.push(list)
      return list.map((key) => key.toUpperCase())
    },
    batches: async (list: readonly string[]) =>
      groupKeys(
        list,
        (key) => key[0]!,
        (key) => ({ node: key[0]!, lane: 0 }),
      ),
  } as unknown as RedisTopology
}

test('getPerBatch: one connection sends one MGET with every key, in the caller’s order', async () => {
  const sent: (readonly string[])[] = []
  const topology = mgetTopology(true, sent)
  assert.deepEqual(await getPerBatch(topology, ['a1', 'b1']), ['A1', 'B1'])
  assert.deepEqual(sent, [['a1', 'b1']])
  assert.deepEqual(await getPerBatch(topology, []), [])
  assert.equal(sent.length, 1, 'no keys, no command')
})

test('getPerBatch: elsewhere one MGET per batch, replies in the caller’s order', async () => {
  const sent: (readonly string[])[] = []
  const result = await getPerBatch(mgetTopology(false, sent), ['a1', 'b1', 'a2'])
  assert.deepEqual(result, ['A1', 'B1', 'A2'])
  assert.deepEqual(sent, [['a1', 'a2'], ['b1']])
})

test('TickBatch: a step of multi-key reads whose MGET throws as it is sent fails every call of the step, none left pending', async () => {
  const sent: string[][] = []
  const client = {
    mget(...keys: string[]) {
      sent.push(keys)
      throw new Error('cannot send')
    },
  } as unknown as Client
  const batch = new TickBatch(() => client)
  const results = await Promise.allSettled([
    batch.getMany(['a', 'b']),
    batch.getMany(['b', 'c']),
    batch.getMany(['a', 'b']),
  ])
  assert.deepEqual(sent, [['a', 'b', 'b', 'c']], "one MGET, the third call sharing the first's keys")
  for (const result of results) assert.match(String((result as PromiseRejectedResult).reason), /cannot send/)
})

test('Script: sent with its source until it ran on the node of its keys (per client and slot), by SHA1 after; EVAL again on NOSCRIPT only', async () => {
  const lua = 'return KEYS[1]'
  const script = new Script(lua)
  assert.equal(script.sha, createHash('sha1').update(lua).digest('hex'))
  const calls: unknown[][] = []
  let known = true
  let other: Error | undefined
  const clientWith = () =>
    ({
      evalsha: async (...args: unknown[]) => {
        calls.push(['evalsha', ...args])
        if (other) throw other
        if (!known) throw new Error('NOSCRIPT No matching script.')
        return 'by sha'
      },
      eval: async (...args: unknown[]) => {
        calls.push(['eval', ...args])
        known = true
        return 'by eval'
      },
    }) as unknown as Client
  const client = clientWith()
  // First run: the source, in order with what is sent after it (no NOSCRIPT round trip).
  assert.equal(await script.run(client, ['k1', 'k2'], ['a', 1]), 'by eval')
  assert.equal(await script.run(client, ['k1'], []), 'by sha')
  // A key of another slot (on a cluster, maybe another node), or another client: the source again.
  assert.equal(await script.run(client, ['other'], []), 'by eval')
  assert.equal(await script.run(clientWith(), ['k1'], []), 'by eval')
  assert.deepEqual(calls, [
    ['eval', lua, 2, 'k1', 'k2', 'a', 1],
    ['evalsha', script.sha, 1, 'k1'],
    ['eval', lua, 1, 'other'],
    ['eval', lua, 1, 'k1'],
  ])
  // The server forgot it (a restart, SCRIPT FLUSH): NOSCRIPT, then the source once.
  calls.length = 0
  known = false
  assert.equal(await script.run(client, ['k1'], []), 'by eval')
  assert.deepEqual(
    calls.map(([name]) => name),
    ['evalsha', 'eval'],
  )
  other = new Error('ERR Error running script: NOSCRIPT in a message is not the reply code')
  await assert.rejects(script.run(client, ['k1'], []), /ERR Error running script/)
  assert.equal(calls.filter(([name]) => name === 'eval').length, 1)
  // ioredis' Cluster re-sent it while a restarted master rejoined and gave up with NOSCRIPT last:
  // nothing ran, the source is sent (it reached the caller as a CommandError).
  other = new Error(
    `Too many Cluster redirections. Last error: ${new ReplyError('NOSCRIPT No matching script. Please use EVAL.')}`,
  )
  calls.length = 0
  assert.equal(await script.run(client, ['k1'], []), 'by eval')
  assert.deepEqual(
    calls.map(([name]) => name),
    ['evalsha', 'eval'],
  )
})

test('TopologyHandle: builds the topology on first use, then hands it out without a promise', async () => {
  let connects = 0
  const clientOf = (key: string) => ({ key }) as unknown as Client
  const topology = { client: clientOf } as unknown as RedisTopology
  const handle = new TopologyHandle(async () => {
    connects++
    return topology
  })
  assert.equal(handle.current, undefined)
  assert.deepEqual(await handle.client('a'), { key: 'a' })
  assert.equal(handle.current, topology)
  assert.equal(connects, 1)
  assert.equal(handle.get(), topology, 'built: no promise')
  assert.deepEqual(handle.client('b'), { key: 'b' }, 'built: no promise')
  assert.deepEqual(await handle.run('c', async (client) => client), { key: 'c' })
  assert.equal(connects, 1)
})

test('TopologyHandle: run before the topology is built waits for it and runs on the key’s client', async () => {
  const topology = { client: (key: string) => ({ key }) as unknown as Client } as unknown as RedisTopology
  const handle = new TopologyHandle(async () => topology)
  const first = handle.run('x', async (client) => client)
  assert.ok(first instanceof Promise)
  assert.deepEqual(await first, { key: 'x' })
  assert.equal(handle.current, topology)
  assert.deepEqual(await (handle.get() as RedisTopology).client('y'), { key: 'y' })
})

test('ShardedTopology: one url is standalone; keys, batches, pipelines and masters all go to it', async () => {
  const { module, made } = fakeIORedis()
  const topology = ShardedTopology.fromUrls(module, [address(1)], { ...settings, poolSize: 1 })
  assert.equal(topology.kind, 'standalone')
  assert.equal(topology.oneConnection, true)
  assert.equal(made[0]!.url, 'redis://h:1/0')
  // Timed by redfleet, one timer per connection (timeCommands), not by ioredis per command.
  assert.equal(made[0]!.options.commandTimeout, undefined)
  assert.equal(topology.nodeOf('any'), 'h:1/0')
  assert.deepEqual(await topology.batches([]), [])
  assert.deepEqual(await topology.batches(['a', 'b']), [
    { node: 'h:1/0', lane: 0, keys: ['a', 'b'], indexes: [0, 1] },
  ])
  const masters = await topology.masters()
  assert.deepEqual(
    masters.map((m) => m.id),
    ['h:1/0'],
  )
  assert.ok(made.includes(masters[0]!.client as unknown as FakeRedis))
  assert.equal(topology.slotOwners(), undefined)
  let changes = 0
  topology.onLayoutChange(() => changes++)()
  await topology.refreshLayout()
  assert.equal(changes, 0)
})

test('ShardedTopology: with a pool, each key keeps to the connection of its slot; batches split per connection', async () => {
  const { module, made } = fakeIORedis()
  const topology = ShardedTopology.fromUrls(module, [address(1)], { ...settings, poolSize: 3 })
  assert.equal(made.length, 3, 'a pool of connections')
  assert.equal(topology.oneConnection, false, 'a multi-key command has to be split')
  for (const key of keys) {
    const connection = made[keySlot(key) % 3]
    assert.equal(topology.client(key), connection)
    assert.equal(topology.client(key), connection, 'again: the same one')
  }
  assert.equal(topology.client('{t}a'), topology.client('{t}b'), 'a hash tag shares a connection')
  assert.deepEqual(new Set(keys.map((key) => topology.client(key))).size, 3, 'keys spread over the pool')
  const batches = await topology.batches(keys)
  assert.equal(batches.length, 3)
  for (const batch of batches) {
    assert.equal(batch.node, 'h:1/0')
    for (const key of batch.keys) assert.equal(keySlot(key) % 3, batch.lane)
    assert.equal(topology.batchClient(batch), made[batch.lane])
  }
  const replies = await topology.pipeline(batches, (pipe, batch) => {
    for (const key of batch.keys) pipe.get(key)
  })
  batches.forEach((batch, i) => {
    assert.deepEqual(
      replies[i],
      batch.keys.map((key) => `redis://h:1/0:${key}`),
    )
  })
  for (const connection of made) assert.equal(connection.pipelines.length, 1, 'one pipeline per connection')
})

test('ShardedTopology: several urls are a ring; each key goes to the node the ring names', async () => {
  const { module, made } = fakeIORedis()
  const addresses = [address(1), address(2), address(3)]
  const topology = ShardedTopology.fromUrls(module, addresses, { ...settings, poolSize: 1 })
  assert.equal(topology.kind, 'sharded')
  const ring = new HashRing(addresses.map((a) => a.id))
  const connectionOf = new Map(addresses.map((a, i) => [a.id, made[i]!]))
  for (const key of keys) {
    assert.equal(topology.nodeOf(key), ring.nodeFor(key))
    assert.equal(topology.client(key), connectionOf.get(ring.nodeFor(key)))
  }
  const batches = await topology.batches(keys)
  assert.equal(batches.length, 3)
  for (const batch of batches) {
    for (const key of batch.keys) assert.equal(ring.nodeFor(key), batch.node)
    assert.equal(topology.batchClient(batch), connectionOf.get(batch.node))
    assert.deepEqual(
      batch.indexes.map((i) => keys[i]),
      batch.keys,
    )
  }
  const replies = await topology.pipeline(batches, (pipe, batch) => {
    for (const key of batch.keys) pipe.get(key)
  })
  batches.forEach((batch, i) => {
    const url = `redis://${batch.node.replace('/0', '')}/0`
    assert.deepEqual(
      replies[i],
      batch.keys.map((key) => `${url}:${key}`),
    )
  })
  assert.deepEqual((await topology.masters()).map((m) => m.id).sort(), addresses.map((a) => a.id).sort())
})

test('ShardedTopology: the same server twice is a configuration error', () => {
  const { module } = fakeIORedis()
  assert.throws(() => ShardedTopology.fromUrls(module, [address(1), address(1)], settings), ConfigError)
})

test('ShardedTopology: ready connects and pings every connection; close quits what it opened', async () => {
  const { module, made } = fakeIORedis()
  const topology = ShardedTopology.fromUrls(module, [address(1), address(2)], settings)
  await topology.ready()
  // One connection per server is asked whether it is a cluster node (ERR_IS_A_CLUSTER).
  const asked = (i: number) => (i % settings.poolSize === 0 ? ['info cluster'] : [])
  const calls = (then: string[]) => made.map((_, i) => ['connect', 'ping', ...asked(i), ...then])
  assert.deepEqual(
    made.map((connection) => connection.calls),
    calls([]),
  )
  await topology.close()
  assert.deepEqual(
    made.map((connection) => connection.calls),
    calls(['quit']),
  )
})

test('ShardedTopology: a dedicated connection is a new one to that node, without a command timeout', async () => {
  const { module, made } = fakeIORedis()
  const topology = ShardedTopology.fromUrls(module, [address(1), address(2)], { ...settings, poolSize: 1 })
  const dedicated = (await topology.dedicatedToNode('h:2/0')) as unknown as FakeRedis
  assert.equal(made.length, 3)
  assert.equal(dedicated, made[2])
  assert.equal(dedicated.url, 'redis://h:2/0')
  assert.equal(dedicated.options.commandTimeout, undefined)
  await assert.rejects(topology.dedicatedToNode('h:9/0'), ConfigError)
})

/**
 * `view` is redfleet's view of a user's `client` (clientView): another object, whose properties
 * are the client's own (its recorded calls included).
 */
function isViewOf(view: unknown, client: { calls: string[] }): boolean {
  return view !== client && (view as { calls?: unknown }).calls === client.calls
}

test('ShardedTopology: a given client is the one node, named by its options, and never closed', async () => {
  const { made } = fakeIORedis()
  const given = new FakeRedis('given', { host: 'g', port: 7, db: 2 })
  given.status = 'ready'
  const topology = ShardedTopology.fromClient(given as unknown as Redis, settings)
  assert.equal(topology.kind, 'standalone')
  assert.equal(topology.nodeOf('k'), 'g:7/2')
  assert.ok(isViewOf(topology.client('k'), given), "redfleet's calls go through a view of the client")
  const dedicated = (await topology.dedicatedToNode('g:7/2')) as unknown as FakeRedis
  assert.equal(made.length, 0, 'duplicated from the given client, not made from a url')
  assert.equal(dedicated.url, 'given#dup')
  assert.equal(dedicated.options.commandTimeout, undefined)
  assert.equal(dedicated.options.maxRetriesPerRequest, null)
  assert.equal(dedicated.options.lazyConnect, true)
  await topology.close()
  assert.deepEqual(given.calls, [])
  const noDb = new FakeRedis('given', { host: 'g', port: 7 })
  assert.equal(ShardedTopology.fromClient(noDb as unknown as Redis, settings).nodeOf('k'), 'g:7/0')
})

/** A Cluster client that knows a slot map: slots below 8192 on m1, the rest on m2. */
class FakeCluster extends EventEmitter {
  status = 'ready'
  refreshes = 0
  readonly calls: string[] = []
  readonly masters = [
    new FakeRedis('m1', { host: 'm', port: 1 }),
    new FakeRedis('m2', { host: 'm', port: 2 }),
  ]
  slots: string[][] = Array.from({ length: 16384 }, (_, slot) => [slot < 8192 ? 'm:1' : 'm:2'])
  nodes(role: string): FakeRedis[] {
    assert.equal(role, 'master')
    return this.masters
  }
  refreshSlotsCache(done: () => void): void {
    this.refreshes++
    done()
  }
  pipeline(): FakePipeline {
    return new FakePipeline((key) => [null, `cluster:${key}`])
  }
  async quit(): Promise<void> {
    this.calls.push('quit')
  }
  disconnect(): void {
    this.calls.push('disconnect')
  }
}

function clusterTopology(cluster = new FakeCluster()): { cluster: FakeCluster; topology: ClusterTopology } {
  return { cluster, topology: ClusterTopology.fromClient(cluster as unknown as Cluster, settings) }
}

test('ClusterTopology: keys are batched per slot, each batch named by the master of its slot', async () => {
  const { cluster, topology } = clusterTopology()
  assert.equal(topology.kind, 'cluster')
  assert.deepEqual(await topology.batches([]), [])
  const batches = await topology.batches(keys)
  const slots = new Set(keys.map((key) => calculateSlot(key)))
  assert.equal(batches.length, slots.size)
  for (const batch of batches) {
    const slot = calculateSlot(batch.keys[0]!)
    for (const key of batch.keys) assert.equal(calculateSlot(key), slot)
    assert.equal(batch.node, slot < 8192 ? 'm:1' : 'm:2')
    assert.deepEqual(
      batch.indexes.map((i) => keys[i]),
      batch.keys,
    )
    assert.ok(isViewOf(topology.batchClient(batch), cluster))
  }
  for (const key of keys) assert.equal(topology.nodeOf(key), calculateSlot(key) < 8192 ? 'm:1' : 'm:2')
  assert.ok(isViewOf(topology.client('k'), cluster))
})

test('ClusterTopology: a slot no master serves is batched under "unknown" and has no node', async () => {
  const cluster = new FakeCluster()
  cluster.slots = []
  const { topology } = clusterTopology(cluster)
  assert.deepEqual(await topology.batches(['a']), [{ node: 'unknown', lane: 0, keys: ['a'], indexes: [0] }])
  assert.equal(topology.nodeOf('a'), undefined)
  assert.equal(topology.slotOwners(), undefined, 'no slot map yet')
})

test('ClusterTopology: the slot owners, the masters and the pipeline', async () => {
  const { topology } = clusterTopology()
  const owners = topology.slotOwners()!
  assert.equal(owners.length, 16384)
  assert.equal(owners[0], 'm:1')
  assert.equal(owners[16383], 'm:2')
  assert.deepEqual(
    (await topology.masters()).map((m) => m.id),
    ['m:1', 'm:2'],
  )
  const batches = await topology.batches(['a', 'b'])
  const replies = await topology.pipeline(batches, (pipe, batch) => {
    for (const key of batch.keys) pipe.get(key)
  })
  assert.deepEqual(replies.flat().sort(), ['cluster:a', 'cluster:b'])
})

test('ClusterTopology: layout changes are the slot map’s refresh and node events, until stopped', () => {
  const { cluster, topology } = clusterTopology()
  let changes = 0
  const stop = topology.onLayoutChange(() => changes++)
  for (const event of ['refresh', '+node', '-node']) cluster.emit(event)
  assert.equal(changes, 3)
  stop()
  for (const event of ['refresh', '+node', '-node']) cluster.emit(event)
  assert.equal(changes, 3)
  // Every near cache of a fleet listens: the client holds one listener per event, not one each.
  const stops = Array.from({ length: 12 }, () => topology.onLayoutChange(() => changes++))
  assert.equal(cluster.listenerCount('refresh'), 1)
  cluster.emit('refresh')
  assert.equal(changes, 15)
  for (const each of stops) each()
})

test('ClusterTopology: refreshLayout reloads the slot map only on a ready client', async () => {
  const { cluster, topology } = clusterTopology()
  await topology.refreshLayout()
  assert.equal(cluster.refreshes, 1)
  cluster.status = 'connecting'
  await topology.refreshLayout()
  assert.equal(cluster.refreshes, 1)
})

test('ClusterTopology: a dedicated connection duplicates that master’s, and reconnects by itself', async () => {
  const { cluster, topology } = clusterTopology()
  const dedicated = (await topology.dedicatedToNode('m:2')) as unknown as FakeRedis
  assert.equal(dedicated.url, 'm2#dup')
  assert.equal(dedicated.options.commandTimeout, undefined)
  assert.equal(dedicated.options.maxRetriesPerRequest, null)
  assert.equal(dedicated.options.readOnly, false)
  assert.equal(dedicated.options.lazyConnect, true)
  assert.equal(dedicated.options.retryStrategy, reconnectDelay)
  await assert.rejects(topology.dedicatedToNode('m:9'), ConnectionError)
  await topology.close()
  assert.deepEqual(cluster.calls, [], 'a given client is never closed')
})

/** An ioredis module whose Cluster class makes FakeClusters, kept with their seeds and options. */
function fakeClusterModule(): {
  module: IORedisModule
  made: { cluster: FakeCluster; nodes: unknown; options: Record<string, unknown> }[]
} {
  const made: { cluster: FakeCluster; nodes: unknown; options: Record<string, unknown> }[] = []
  class Made extends FakeCluster {
    constructor(nodes: unknown, options: Record<string, unknown>) {
      super()
      made.push({ cluster: this, nodes, options })
    }
  }
  return { module: { Cluster: Made } as unknown as IORedisModule, made }
}

test('ClusterTopology.fromUrls: seeds from every url, credentials from the first, one client per pool lane', async () => {
  const { module, made } = fakeClusterModule()
  const topology = ClusterTopology.fromUrls(
    module,
    [
      { url: 'redis://us%3Aer:p%40ss@[::1]:7000', id: '::1:7000/0' },
      { url: 'redis://h2', id: 'h2:6379/0' },
    ],
    settings,
  )
  assert.equal(made.length, settings.poolSize)
  assert.deepEqual(made[0]!.nodes, [
    { host: '::1', port: 7000 },
    { host: 'h2', port: 6379 },
  ])
  const redisOptions = made[0]!.options.redisOptions as Record<string, unknown>
  assert.equal(redisOptions.username, 'us:er')
  assert.equal(redisOptions.password, 'p@ss')
  // Each node connection is timed by timeCommands (a WAIT's own timeout on top), not by ioredis.
  assert.equal(redisOptions.commandTimeout, undefined, 'the node options of every connection')
  assert.equal(made[0]!.options.lazyConnect, true)
  for (const key of keys) {
    const client = made[calculateSlot(key) % settings.poolSize]!.cluster
    assert.equal(topology.client(key), client, 'each key keeps to the client of its slot')
  }
  const batches = await topology.batches(keys)
  for (const batch of batches) {
    assert.equal(batch.lane, calculateSlot(batch.keys[0]!) % settings.poolSize)
    assert.equal(topology.batchClient(batch), made[batch.lane]!.cluster)
  }
})

test('ClusterTopology.fromUrls: no credentials in the url, none in the options; no url is a ConfigError', () => {
  const { module, made } = fakeClusterModule()
  ClusterTopology.fromUrls(module, [{ url: 'redis://h:7000', id: 'h:7000/0' }], settings)
  const redisOptions = made[0]!.options.redisOptions as Record<string, unknown>
  assert.equal('username' in redisOptions, false)
  assert.equal('password' in redisOptions, false)
  assert.throws(() => ClusterTopology.fromUrls(module, [], settings), ConfigError)
})

test('ClusterTopology.fromUrls: each master found is watched; ready pings every master and reads its cluster state; close ends every client', async () => {
  const { module, made } = fakeClusterModule()
  const topology = ClusterTopology.fromUrls(module, [{ url: 'redis://h:7000', id: 'h:7000/0' }], settings)
  const node = new FakeRedis('m1', { host: 'm', port: 1 })
  made[0]!.cluster.emit('+node', node)
  assert.ok(node.listenerCount('close') > 0, 'its health follows the connection')
  await topology.ready()
  for (const master of made[0]!.cluster.masters) {
    assert.deepEqual(master.calls, ['connect', 'ping', 'cluster info'])
  }
  made[1]!.cluster.status = 'connecting'
  await topology.close()
  assert.deepEqual(made[0]!.cluster.calls, ['quit'], 'a ready client quits')
  assert.deepEqual(made[1]!.cluster.calls, ['disconnect'], 'one still connecting is dropped')
})

test('scriptFile: the script is the file’s text, by its SHA1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rf-lua-'))
  const file = join(dir, 'touch-1.lua')
  writeFileSync(file, "return redis.call('TOUCH', KEYS[1])\n")
  const script = scriptFile(pathToFileURL(file))
  assert.equal(script.lua, "return redis.call('TOUCH', KEYS[1])\n")
  assert.equal(script.sha, createHash('sha1').update(script.lua).digest('hex'))
  rmSync(dir, { recursive: true, force: true })
})

test('ClusterTopology: a ready client whose QUIT fails is disconnected', async () => {
  const { module, made } = fakeClusterModule()
  const topology = ClusterTopology.fromUrls(module, [{ url: 'redis://h:7000', id: 'h:7000/0' }], {
    ...settings,
    poolSize: 1,
  })
  made[0]!.cluster.quit = async () => {
    throw new Error('Connection is closed.')
  }
  await topology.close()
  assert.deepEqual(made[0]!.cluster.calls, ['disconnect'])
})

test('ClusterTopology: a slot map with unserved slots lists them as undefined', () => {
  const cluster = new FakeCluster()
  cluster.slots = []
  cluster.slots[0] = ['m:1']
  const owners = clusterTopology(cluster).topology.slotOwners()!
  assert.equal(owners.length, 16384)
  assert.equal(owners[0], 'm:1')
  assert.equal(owners[1], undefined)
})
