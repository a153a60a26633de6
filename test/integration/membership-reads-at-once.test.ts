import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
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

test('1,000 owner() and live() calls made at once over 2,000 members read the live set once', async () => {
  const fleet = createFleet({ url: server.url, namespace: uniqueNamespace() })
  try {
    const members = fleet.membership()
    const ids = Array.from({ length: 2000 }, (_, i) => `member-${String(i).padStart(4, '0')}`)
    await Promise.all(ids.map((id) => members.heartbeat(id)))
    const before = await scriptsRun(raw)
    const jobs = Array.from({ length: 1000 }, (_, i) => `job-${i}`)
    const [owners, lists] = await Promise.all([
      Promise.all(jobs.map((job) => members.owner(job))),
      Promise.all(jobs.slice(0, 10).map(() => members.live())),
    ])
    // One read for all of them: each its own read sent the whole set 1,010 times, and with 5,000
    // members 995 of 1,000 owner() calls timed out on an idle server (helper-318).
    assert.equal((await scriptsRun(raw)) - before, 1)
    for (const [i, job] of jobs.entries()) assert.equal(owners[i], await members.owner(job, ids), job)
    for (const list of lists) assert.deepEqual(list, ids)
  } finally {
    await fleet.close()
  }
})

test("two fleets on one injected client, or both in memory: one's change is seen by the other's later call of the turn", async () => {
  const client = new Redis(server.url)
  const namespace = uniqueNamespace()
  const pairs = [
    [createFleet({ client, namespace }), createFleet({ client, namespace })],
    [createFleet({ namespace }), createFleet({ namespace })],
  ]
  try {
    for (const [one, other] of pairs) {
      const [a, b] = [one!.membership(), other!.membership()]
      await a.heartbeat('a')
      const first = a.live()
      const beat = b.heartbeat('z')
      const second = a.live()
      const left = b.leave('a')
      const third = a.live()
      await Promise.all([beat, left])
      assert.deepEqual(await first, ['a'])
      assert.deepEqual(await second, ['a', 'z'], `${one!.topology}: the heartbeat made before`)
      assert.deepEqual(await third, ['z'], `${one!.topology}: the leave made before`)
      await b.leave('z')
    }
  } finally {
    for (const fleet of pairs.flat()) await fleet.close()
    client.disconnect()
  }
})
