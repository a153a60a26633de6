import { connect, type Socket } from 'node:net'

/**
 * MONITOR on a socket of its own, parsed here: ioredis' `monitor()` switches to monitor mode one
 * microtask after MONITOR's OK, so a monitored line that arrives in the same read as the OK is
 * taken for a reply to no command ("Command queue state error"; seen under a CPU hog).
 * `onCommand` gets each command the server runs, as its arguments (`['mget', 'k1', ...]`).
 */
export async function monitorServer(url: string, onCommand: (args: string[]) => void): Promise<Socket> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  let pending = ''
  let started: () => void
  const ok = new Promise<void>((resolve) => {
    started = resolve
  })
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    pending += chunk
    let end = pending.indexOf('\r\n')
    while (end !== -1) {
      const line = pending.slice(0, end)
      pending = pending.slice(end + 2)
      if (line === '+OK') started()
      else if (line.startsWith('+')) onCommand(monitoredArgs(line))
      end = pending.indexOf('\r\n')
    }
  })
  socket.write('MONITOR\r\n')
  await ok
  return socket
}

/** Escapes Redis writes in a MONITOR line (sdscatrepr), besides `\xHH`. */
const ESCAPED: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }

/** The arguments of a MONITOR line: `+1700000000.123 [0 127.0.0.1:5555] "get" "k"`. */
function monitoredArgs(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, quoted]) =>
    quoted!.replace(/\\(x[0-9a-f]{2}|.)/gi, (_, sequence: string) =>
      sequence.length === 3
        ? String.fromCharCode(Number.parseInt(sequence.slice(1), 16))
        : (ESCAPED[sequence] ?? sequence),
    ),
  )
}
