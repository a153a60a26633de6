// A member process of the membership integration tests.
// mode 'join': joins (heartbeats every ttl/3), prints `joined`, and runs until killed.
// mode 'join-close': joins, prints `joined`, closes the fleet and lets the process end by
//   itself (it would hang if close left a timer or socket behind).
// mode 'inbox': prints the first `count` messages of its inbox from '0' as JSON lines, then
//   stops iterating, closes the fleet and ends by itself.
import { createFleet, type FleetOptions } from '../../src/index.ts'

const { options, id, ttl, mode, count } = JSON.parse(process.argv[2]!) as {
  options: FleetOptions
  id: string
  ttl: number
  mode: 'join' | 'join-close' | 'inbox'
  count?: number
}
const fleet = createFleet(options)
const members = fleet.membership({ ttl })

if (mode === 'inbox') {
  let seen = 0
  for await (const message of members.inbox(id, { from: '0' })) {
    process.stdout.write(`${JSON.stringify(message)}\n`)
    if (++seen === count) break
  }
} else {
  // An explicit first heartbeat, so that `joined` means "visible to the others".
  await members.heartbeat(id)
  members.join(id)
  process.stdout.write('joined\n')
  // join's timer does not keep a process alive by design; this one stands for the app's work.
  if (mode === 'join') setInterval(() => {}, 60_000)
}
if (mode !== 'join') await fleet.close()
