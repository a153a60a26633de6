import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
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

/** Scripts the server ran (EVAL and EVALSHA) since it started. */
async function scriptsRun(): Promise<number> {
  const stats = await raw.info('commandstats')
  let calls = 0
  for (const [, count] of stats.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)) calls += Number(count)
  return calls
}

test('1,000 owner() and live() calls made at once over 2,000 members read the live set once', async () => {
  const fleet = createFleet({ url: server.url, namespace: uniqueNamespace() })
  try {
    const members = fleet.membership()
    const ids = Array.from({ length: 2000 }, (_, i) => `member-${String(i).padStart(4, '0')}`)
    await Promise.all(ids.map((id) => members.heartbeat(id)))
    const before = await scriptsRun()
    const jobs = Array.from({ length: 1000 }, (_, i) => `job-${i}`)
    const [owners, lists] = await Promise.all([
      Promise.all(jobs.map((job) => members.owner(job))),
      Promise.all(jobs.slice(0, 10).map(() => members.live())),
    ])
    // One read for all of them: each its own read sent the whole set 1,010 times, and with 5,000
    // members 995 of 1,000 owner() calls timed out on an idle server (helper-318).
    assert.equal((await scriptsRun()) - before, 1)
    for (const [i, job] of jobs.entries()) assert.equal(owners[i], await members.owner(job, ids), job)
    for (const list of lists) assert.deepEqual(list, ids)
  } finally {
    await fleet.close()
  }
})
