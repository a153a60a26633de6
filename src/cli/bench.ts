/** `redfleet bench`: the benchmark suite, which ships with the source repository only. */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const script = `${root}bench/run.ts`

/** True in a source checkout (bench/run.ts next to the package), false in an installed package. */
export function benchAvailable(): boolean {
  return existsSync(script)
}

/** Runs the suite with the checkout's tsx, its output straight to this terminal. */
export function bench(args: string[]): Promise<void> {
  if (!benchAvailable()) {
    return Promise.reject(
      new Error(
        'bench runs from a source checkout of redfleet (npm run bench there); it is not in the package',
      ),
    )
  }
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, stdio: 'inherit' })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`bench exited with ${signal ?? code}`)),
    )
  })
}
