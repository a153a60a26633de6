/**
 * The main example: runs on the in-memory default with no Redis, and on Redis when REDIS_URL
 * is set (REDIS_URL=redis://127.0.0.1:6379 npm run example). Several "instances" of a service
 * share one fleet: they claim work, count, and update a shared record without losing writes.
 */
import { createFleet } from '../src/index.ts'

// Memory on purpose when REDIS_URL is unset (so redfleet does not warn that it fell back to it).
const connection = process.env.REDIS_URL ? { url: process.env.REDIS_URL } : { memory: true }
const fleet = createFleet({ ...connection, namespace: 'demo-shop' })
console.log(
  `redfleet demo on the ${fleet.topology} topology${fleet.topology === 'memory' ? ' (set REDIS_URL to use Redis)' : ''}`,
)

// Three instances of the same service, each with its own fleet (as separate processes would be).
const instances = [
  fleet,
  createFleet({ ...connection, namespace: 'demo-shop' }),
  createFleet({ ...connection, namespace: 'demo-shop' }),
]
const store = fleet.store<{ items: string[]; total: number }>()
await Promise.all(['cart:42', 'views:home', 'report:2026-11-23'].map((k) => store.delete(k)))

// Exactly one instance wins the nightly-report claim.
const claims = await Promise.all(
  instances.map((f, i) => f.store().setIfNotExists('report:2026-11-23', `instance-${i}`, { ttl: 60_000 })),
)
console.log('report claimed by instance', claims.indexOf(true))

// Every instance adds to one cart concurrently; update() retries on conflict, so nothing is lost.
await Promise.all(
  instances.flatMap((f, i) =>
    ['apple', 'pear', 'plum'].map((fruit) =>
      f.store<{ items: string[]; total: number }>().update('cart:42', (cart) => ({
        items: [...(cart?.items ?? []), `${fruit}@${i}`],
        total: (cart?.total ?? 0) + 1,
      })),
    ),
  ),
)
const cart = await store.get('cart:42')
console.log(`cart:42 has ${cart?.total} items (9 expected):`, cart?.items.join(', '))

// An atomic page-view counter that expires an hour after its first hit.
for (const f of instances) await f.store().increment('views:home', 1, { ttl: 3_600_000 })
console.log('views:home =', await store.get('views:home'))

await store.delete('report:2026-11-23')
await Promise.all(instances.map((f) => f.close()))
