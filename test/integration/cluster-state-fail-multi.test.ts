import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import calculateSlot from 'cluster-key-slot'
import { createFleet, type Fleet } from '../../src/index.ts'
import { command, info, waitUntil } from '../harness/faults.ts'
import { startCluster } from '../harness/redis-server.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let cluster: Awaited<ReturnType<typeof startCluster>>
const fleets: Fleet[] = []
before(async () => {
  cluster = await startCluster()
})
after(async () => {
  await Promise.all(fleets.map((f) => f.close()))
  await cluster?.stop()
})

test('explore D4', async (t) => {
  const namespace = uniqueNamespace()
  const ct = Number(process.env.CT ?? 500)
  const mk = () => {
    const f = createFleet({ url: cluster.urls, cluster: true, namespace, commandTimeout: 300, connectTimeout: ct, onError: () => {} })
    fleets.push(f)
    return f
  }
  const warm = mk()
  await warm.ready()
  const victim = cluster.servers[Number(process.env.VICTIM ?? 2)]!
  const ranges = (await command(victim.port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
  const dead = ranges.filter((r) => r[2][1] === victim.port).map((r) => [r[0], r[1]])
  const keys = Array.from({ length: 60 }, (_, i) => `h${i}`).filter((k) => !dead.some(([a, b]) => a! <= calculateSlot(k) && calculateSlot(k) <= b!)).slice(0, 20).map((t) => `{${t}}x`)
  const raising = warm.cache({ errorHandler: ({ exception }) => { throw exception } })
  await raising.writeMulti(Object.fromEntries(keys.map((k) => [k, 1])))
  const killed = performance.now()
  if (process.env.FREEZE) void command(victim.port, 'DEBUG', 'SLEEP', 40).catch(() => {})
  else await victim.kill()
  const live = cluster.servers.filter((s) => s !== victim)
  let failSeen = 0
  const probeState = async () => {
    const views = await Promise.all(live.map((s) => info(s.port, 'cluster')))
    return views.map((v) => v.get('cluster_state')).join(',')
  }
  while (!failSeen || performance.now() - failSeen < 4000) {
    const s = performance.now()
    const r = await raising.readMulti(keys).then((v) => ['ok', v.size], (e) => ['err', `${e.constructor.name} ${String(e).slice(0, 150)}`])
    const state = await probeState()
    if (!failSeen && state === 'fail,fail') failSeen = performance.now()
    t.diagnostic(`+${(s - killed).toFixed(0)} ${state} readMulti ${(performance.now() - s).toFixed(0)} ms ${r.join(' ')}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  const cold = mk()
  const rc = cold.cache({ errorHandler: ({ exception }) => { throw exception } })
  for (let i = 0; i < 3; i++) {
    const s = performance.now()
    const r = await rc.readMulti(keys).then((v) => ['ok', v.size], (e) => ['err', `${e.constructor.name} ${String(e).slice(0, 150)}`])
    t.diagnostic(`cold readMulti ${(performance.now() - s).toFixed(0)} ms ${r.join(' ')}`)
    const s2 = performance.now()
    const r2 = await rc.writeMulti(Object.fromEntries(keys.map((k) => [k, 1]))).then((v) => ['ok', v], (e) => ['err', `${e.constructor.name} ${String(e).slice(0, 150)}`])
    t.diagnostic(`cold writeMulti ${(performance.now() - s2).toFixed(0)} ms ${r2.join(' ')}`)
  }
})
