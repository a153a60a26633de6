import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
import { inspectFleet } from '../../src/inspect.ts'
import { scriptsRun } from '../harness/command-stats.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let server: RedisServer
let raw: Redis
before(async () => {
  server = await startRedis()
  raw = new Redis(server.url)
})
after(async () => {
  raw.disconnect()
  await server.stop()
})

test("a snapshot reads every group's lag of a stream in one step, exactly (300 groups)", async () => {
  const namespace = uniqueNamespace()
  const key = `${namespace}:streams:events`
  const fleet = createFleet({ url: server.url, namespace })
  try {
    const streams = fleet.streams()
    const ids: string[] = []
    for (let n = 0; n < 10; n++) ids.push(await streams.publish({ n }))
    // Group g<i> has read i % 10 entries, none pending: its lag is 10 less them.
    const read = (group: string) => Number(group.slice(1)) % 10
    const pipeline = raw.pipeline()
    for (let g = 0; g < 300; g++) {
      const position = g % 10 === 0 ? '0' : ids[(g % 10) - 1]!
      pipeline.call('XGROUP', 'CREATE', key, `g${g}`, position, 'ENTRIESREAD', String(g % 10))
    }
    await pipeline.exec()
    const lags = async (expected: (group: string) => number) => {
      const status = await inspectFleet(fleet)
      const main = status.streams.find((s) => s.key === key)!
      assert.equal(main.groups.length, 300)
      for (const group of main.groups) assert.equal(group.lag, expected(group.name), group.name)
    }
    const before = await scriptsRun(raw)
    await lags((group) => 10 - read(group))
    // One script for every group's lag (and a few for the snapshot's other parts): one per group
    // walked every group for each (helper-318: 1,000 groups timed `redfleet status` out).
    const scripts = (await scriptsRun(raw)) - before
    assert.ok(scripts < 10, `${scripts} scripts for a snapshot of 300 groups`)
    // Redis has no lag for any group after an XDEL past it: each is counted, still exactly.
    await raw.xdel(key, ids[9]!)
    await lags((group) => 9 - read(group))
    assert.equal(await streams.groupLag('g3'), 6)
  } finally {
    await fleet.close()
  }
})
