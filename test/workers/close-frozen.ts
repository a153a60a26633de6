// One process of the close-frozen test: a fleet on `transport: 'node-redis'` (or an injected
// node-redis client with a near cache) sends a call to a server the test then freezes (SIGSTOP),
// closes the fleet, and should then exit by itself. Prints "frozen" before it closes.
import { createClient } from 'node-redis5'
import { createFleet } from '../../src/index.ts'

const { url, pid, injected } = JSON.parse(process.argv[2]!) as { url: string; pid: number; injected: boolean }
const client = injected ? createClient({ url }) : undefined
client?.on('error', () => undefined)
const fleet = createFleet({
  ...(client ? { client } : { url, transport: 'node-redis' as const }),
  commandTimeout: 300,
  onError: () => undefined,
})
const cache = fleet.cache({ near: { max: 10 } })
await cache.write('k', 1)
await cache.read('k')
process.kill(pid, 'SIGSTOP')
console.log('frozen')
const inFlight = fleet
  .store()
  .get('k')
  .catch(() => undefined)
await fleet.close()
await inFlight
client?.destroy()
console.log('closed')
