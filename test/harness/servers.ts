import { after } from 'node:test'
import { assertRedisInstalled, startCluster, startRedis } from './redis-server.ts'

/** The shared servers of one test run: one standalone, three independent shards, one cluster. */
export interface TestServers {
  standalone: string
  shards: string[]
  cluster: string[]
}

export const SERVERS_ENV = 'REDFLEET_TEST_SERVERS'

/** Starts the whole set; `stop` stops every process even if some failed to start. */
export async function startTestServers(): Promise<{ servers: TestServers; stop(): Promise<void> }> {
  assertRedisInstalled()
  const started = await Promise.allSettled([
    startRedis(),
    Promise.all([startRedis(), startRedis(), startRedis()]),
    startCluster(),
  ])
  const stop = async () => {
    await Promise.all(
      started.map(async (result) => {
        if (result.status !== 'fulfilled') return
        const value = result.value
        if (Array.isArray(value)) await Promise.all(value.map((s) => s.stop()))
        else await value.stop()
      }),
    )
  }
  const failure = started.find((r) => r.status === 'rejected')
  if (failure) {
    await stop()
    throw (failure as PromiseRejectedResult).reason
  }
  const [standalone, shards, cluster] = started.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
    Awaited<ReturnType<typeof startRedis>>,
    Awaited<ReturnType<typeof startRedis>>[],
    Awaited<ReturnType<typeof startCluster>>,
  ]
  return {
    servers: { standalone: standalone.url, shards: shards.map((s) => s.url), cluster: cluster.urls },
    stop,
  }
}

let shared: Promise<TestServers> | undefined

/**
 * The servers for this test file: the run's shared set (started once by test/run.ts and passed
 * in the environment), or, when a file is run on its own, a set started for this process and
 * stopped when its tests end.
 */
export function testServers(): Promise<TestServers> {
  shared ??= (async () => {
    const fromEnv = process.env[SERVERS_ENV]
    if (fromEnv) return JSON.parse(fromEnv) as TestServers
    const { servers, stop } = await startTestServers()
    after(stop)
    return servers
  })()
  return shared
}
