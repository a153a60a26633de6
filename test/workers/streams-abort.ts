// Starts consume, tail and tailEvents, aborts them once they run, and prints how long each took
// to resolve as JSON. Then closes the fleet and lets the process end by itself: if any timer or
// socket were left open, the process would not exit and the test would time out.
import { createFleet, type FleetOptions } from '../../src/index.ts'

const { options } = JSON.parse(process.argv[2]!) as { options: FleetOptions }
const fleet = createFleet(options)
const streams = fleet.streams()
const controller = new AbortController()
const { signal } = controller

const running = new Set<string>()
let abortedAt = 0
const timed = (loop: Promise<void>) => loop.then(() => Date.now() - abortedAt)
const loops = Promise.all([
  timed(streams.consume('g', 'c', () => void running.add('consume'), { signal })),
  timed(streams.tail('ch', '0', () => void running.add('tail'), { signal })),
  timed(streams.tailEvents(() => void running.add('tailEvents'), { signal })),
])

// tailEvents starts from '$': publish until each loop has seen something, so all three run.
let n = 0
while (running.size < 3) {
  await streams.publish({ n: n++ }, ['ch'])
  await new Promise((resolve) => setTimeout(resolve, 5))
}
// One more round trip, so that the loops are back in a blocking read when the abort comes.
await streams.groupLag('g')
abortedAt = Date.now()
controller.abort()
const timings = await loops
process.stdout.write(`${JSON.stringify({ timings })}\n`)
await fleet.close()
