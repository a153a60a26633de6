/**
 * A test reporter that lists the slowest test files when the run ends, with each file's wall time
 * (process start to exit). The run lasts about as long as its longest files, so these are where
 * cutting waits pays off. Plain JavaScript: Node loads reporters before `--import tsx` applies.
 */
const SHOWN = 15

/** @param {AsyncIterable<{ type: string, data: { name: string, file?: string, nesting: number, details: { duration_ms: number } } }>} events */
export default async function* slowestFiles(events) {
  /** @type {Map<string, number>} */
  const durations = new Map()
  for await (const event of events) {
    // Node reports each file as a top-level test named by its path.
    const { data } = event
    if (event.type === 'test:complete' && data.nesting === 0 && data.file === data.name) {
      durations.set(data.file, data.details.duration_ms)
    }
  }
  const slowest = [...durations].sort((a, b) => b[1] - a[1]).slice(0, SHOWN)
  yield '\nslowest test files (wall time):\n'
  for (const [file, ms] of slowest) {
    yield `${(ms / 1000).toFixed(1).padStart(7)} s  ${file.slice(file.indexOf('test/'))}\n`
  }
}
