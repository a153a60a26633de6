/**
 * Durability of publishes (SPEC §5, §10) against the fault harness' primary/replica pair:
 * `StreamsOptions.waitFor` and a call's own `{ waitFor }` make publish and publishToChannel
 * resolve once WAIT (and WAITAOF) confirmed the entries on every stream's node, and reject with
 * DurabilityError carrying the counts reached when they fall short; the entries stay published.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import { DurabilityError } from '../../src/errors.ts'
import { createFleet, type StreamsOptions } from '../../src/index.ts'
import { filePrimaryReplica, info, waitUntil } from '../harness/faults.ts'
import { startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const { pair, fleets } = filePrimaryReplica()

function streamsOn(url: string, options: StreamsOptions = {}) {
  const namespace = uniqueNamespace('durable-streams')
  // commandTimeout well above every WAIT timeout here: a WAIT holds its connection.
  const fleet = createFleet({ url, namespace, commandTimeout: 10_000 })
  fleets.push(fleet)
  return { streams: fleet.streams(options), namespace }
}

/** The ids of a stream's entries, as the server at `url` holds them now. */
async function idsOn(url: string, key: string): Promise<string[]> {
  const client = new Redis(url)
  try {
    return ((await client.xrange(key, '-', '+')) as [string, string[]][]).map(([id]) => id)
  } finally {
    client.disconnect()
  }
}

test('waitFor { replicas: 1 } resolves once the replica has every entry of the publish', async () => {
  const { streams, namespace } = streamsOn(pair().primary.url, { waitFor: { replicas: 1, timeout: 5000 } })
  const id = await streams.publish({ n: 1 }, ['a', 'b'])
  // WAIT returned: the replica holds the entries now, without waiting for it here.
  assert.deepEqual(await idsOn(pair().replica.url, `${namespace}:streams:events`), [id])
  assert.equal((await idsOn(pair().replica.url, `${namespace}:streams:channel:a`)).length, 1)
  assert.equal((await idsOn(pair().replica.url, `${namespace}:streams:channel:b`)).length, 1)
  const channelId = await streams.publishToChannel('c', { n: 2 })
  assert.deepEqual(await idsOn(pair().replica.url, `${namespace}:streams:channel:c`), [channelId])
})

test("a call's own waitFor applies where the streams have none, and is checked like the option", async () => {
  const { streams, namespace } = streamsOn(pair().primary.url)
  const wanted = { waitFor: { replicas: 1, timeout: 5000 } }
  const id = await streams.publishToChannel('c', { n: 1 }, wanted)
  assert.deepEqual(await idsOn(pair().replica.url, `${namespace}:streams:channel:c`), [id])
  const mainId = await streams.publish({ n: 2 }, [], wanted)
  assert.deepEqual(await idsOn(pair().replica.url, `${namespace}:streams:events`), [mainId])
  await assert.rejects(streams.publish({ n: 3 }, [], { waitFor: { replicas: -1 } }), TypeError)
  assert.throws(() => streamsOn(pair().primary.url, { waitFor: { replicas: 'one' } as never }), {
    code: 'ERR_INVALID_OPTION',
  })
})

test('with the replica stopped, publishes reject with DurabilityError and the counts, and stay published', async () => {
  await pair().replica.stop()
  await waitUntil('the primary saw its replica go', async () => {
    return (await info(pair().primary.port)).get('connected_slaves') === '0'
  })
  const wanted = { replicas: 1, timeout: 50 }
  const { streams, namespace } = streamsOn(pair().primary.url, { waitFor: wanted })
  const calls: [string, () => Promise<string>][] = [
    ['publish', () => streams.publish({ n: 1 }, ['a'])],
    ['publishToChannel', () => streams.publishToChannel('c', { n: 2 })],
  ]
  for (const [op, call] of calls) {
    await assert.rejects(call(), (error: Error) => {
      assert.ok(error instanceof DurabilityError, `${op}: ${String(error)}`)
      assert.equal(error.code, 'ERR_DURABILITY')
      assert.equal(error.replicas, 0)
      assert.equal(error.localAof, false)
      assert.deepEqual(error.wanted, wanted)
      assert.match(error.message, new RegExp(`^streams\\.${op} '.+': written, but .*0 of 1 replicas`))
      return true
    })
  }
  for (const key of ['events', 'channel:a', 'channel:c']) {
    assert.equal((await idsOn(pair().primary.url, `${namespace}:streams:${key}`)).length, 1, key)
  }
  // Waiting for nothing, per call: resolves.
  await streams.publishToChannel('c', { n: 3 }, { waitFor: { replicas: 0 } })
})

test('waitFor { aof: true } against a server with appendonly on', async () => {
  const server = await startRedis({ extra: ['--appendonly', 'yes', '--appendfsync', 'always'] })
  try {
    const version = (await info(server.port, 'server')).get('redis_version') ?? '0'
    const { streams, namespace } = streamsOn(server.url, { waitFor: { aof: true, timeout: 1000 } })
    const [major = 0, minor = 0] = version.split('.').map(Number)
    if (major > 7 || (major === 7 && minor >= 2)) {
      const id = await streams.publish({ n: 1 })
      assert.deepEqual(await idsOn(server.url, `${namespace}:streams:events`), [id])
    } else {
      // Before 7.2 there is no WAITAOF: the entry is published, its fsync cannot be confirmed.
      await assert.rejects(streams.publish({ n: 1 }), (error: Error) => {
        assert.ok(error instanceof DurabilityError, String(error))
        assert.equal(error.localAof, false)
        assert.match(error.message, /WAITAOF failed/)
        return true
      })
      assert.equal((await idsOn(server.url, `${namespace}:streams:events`)).length, 1)
    }
  } finally {
    await server.stop()
  }
})

test('the memory topology has nothing to wait for', async () => {
  const fleet = createFleet({ namespace: uniqueNamespace('durable-streams') })
  fleets.push(fleet)
  const streams = fleet.streams({ waitFor: { replicas: 3, aof: true } })
  const id = await streams.publish({ n: 1 }, ['a'], { waitFor: { replicas: 2 } })
  assert.deepEqual(
    (await streams.readRange('a')).map((d) => d.envelope),
    [{ n: 1 }],
  )
  assert.match(id, /^\d+-\d+$/)
})
