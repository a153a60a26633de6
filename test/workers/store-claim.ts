// Claims `round-<r>` with `callers` concurrent setIfNotExists calls per round, each round as soon
// as the parent announces it (store key `round`); prints one JSON line per call, then exits.
import { createFleet, type FleetOptions } from '../../src/index.ts'

const { options, rounds, callers } = JSON.parse(process.argv[2]!) as {
  options: FleetOptions
  rounds: number
  callers: number
}
const fleet = createFleet(options)
const store = fleet.store<string>()
const control = fleet.store<number>({ prefix: 'control:', retry: { attempts: 10 } })
for (let round = 0; round < rounds; round++) {
  while ((await control.get('round').catch(() => undefined)) !== round) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const claims = Array.from({ length: callers }, (_, i) => {
    const value = `child-${round}-${i}`
    return store.setIfNotExists(`round-${round}`, value, { ttl: 600_000 }).then(
      (won) => ({ round, value, won }),
      (error: { outcome?: string; message: string }) => ({
        round,
        value,
        error: error.message,
        outcome: error.outcome,
      }),
    )
  })
  // Tell the parent this round's claims are on their way, then wait for them.
  void control.set('seen', round).catch(() => undefined)
  for (const result of await Promise.all(claims)) process.stdout.write(`${JSON.stringify(result)}\n`)
}
await fleet.close()
