/** `redfleet dashboard`: serves the live dashboard of a fleet until Ctrl-C (SPEC §9). */
import { isLoopback } from '../dashboard/auth.ts'
import { startDashboard } from '../dashboard/server.ts'
import { connected, operatorFleet, untilInterrupted } from './common.ts'
import { type FleetFlags, fleetOptions, UsageError } from './flags.ts'

export interface DashboardFlags extends FleetFlags {
  host: string
  port: string
  token?: string
  allowActions?: boolean
}

export async function dashboard(flags: DashboardFlags): Promise<void> {
  const port = Number(flags.port)
  if (!/^\d+$/.test(flags.port) || port > 65535)
    throw new UsageError('--port must be a port number (0-65535)')
  // An empty --token (or $REDFLEET_DASHBOARD_TOKEN) would serve the dashboard to anyone while the
  // operator believes it guarded; an empty --host listens on every interface, without the loopback Host check.
  if (flags.token === '') throw new UsageError('--token must not be empty')
  if (flags.host.trim() === '')
    throw new UsageError('--host must not be empty: give 0.0.0.0 to listen on every interface')
  const token = flags.token ?? process.env.REDFLEET_DASHBOARD_TOKEN
  if (token === '') {
    throw new UsageError(
      '$REDFLEET_DASHBOARD_TOKEN is empty: give the token, or unset it to serve without one',
    )
  }
  // Off loopback with no token, anyone who can reach the port is the operator: reading may be
  // meant (a trusted network), replaying and purging dead letters for anyone is not.
  const open = token === undefined && !isLoopback(flags.host)
  if (open && flags.allowActions) {
    throw new UsageError(
      `--allow-actions on --host ${flags.host} needs --token: anyone who can reach it could replay and purge dead letters`,
    )
  }
  const options = fleetOptions(flags)
  if (options.url === undefined) {
    throw new UsageError('dashboard needs --url (or $REDIS_URL): a memory fleet lives inside its own process')
  }
  const fleet = operatorFleet(options)
  try {
    // Unreachable Redis fails the command before anything listens; a fleet with a node down is
    // served (what an operator most needs to see), as the other commands run on it.
    await connected(fleet)
    const server = await startDashboard(fleet, {
      host: flags.host,
      port,
      allowActions: flags.allowActions === true,
      ...(token === undefined ? {} : { token }),
      // Every action is logged, with its time, where the operator sees it.
      log: (line) => console.log(`${new Date().toISOString()} ${line}`),
    })
    // Ctrl-C is heard before the line saying so is out: whoever reads it may stop it at once.
    const interrupted = untilInterrupted()
    if (open) {
      console.error(
        `redfleet: the dashboard listens on ${flags.host} without --token: anyone who can reach it reads the fleet's status`,
      )
    }
    const mode = flags.allowActions ? 'actions allowed' : 'read-only'
    console.log(
      `redfleet dashboard on ${server.url} (${mode}${token ? ', token required' : ''}; Ctrl-C stops it)`,
    )
    await interrupted
    await server.close()
  } finally {
    await fleet.close()
  }
}
