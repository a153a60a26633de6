import { isUnavailable } from '../inspect.ts'
import type { NodeStatus } from './nodes.ts'
import type { Snapshot } from './snapshot.ts'

type Labels = Record<string, string>

interface Gauge {
  name: string
  help: string
  samples: { labels: Labels; value: number }[]
}

/** Label values escaped as the text format asks: backslash, double quote and newline. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function line(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  return `${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${value}`
}

function render(gauges: Gauge[]): string {
  const lines: string[] = []
  for (const gauge of gauges) {
    lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`)
    for (const sample of gauge.samples) lines.push(line(gauge.name, sample.labels, sample.value))
  }
  return `${lines.join('\n')}\n`
}

function nodeGauges(nodes: NodeStatus[]): Gauge[] {
  return [
    {
      name: 'redfleet_node_up',
      help: 'Whether the node answered INFO (1) or not (0).',
      samples: nodes.map((n) => ({ labels: { node: n.id }, value: n.up ? 1 : 0 })),
    },
    {
      name: 'redfleet_node_used_memory_bytes',
      help: 'Memory used by the node (INFO used_memory; memory topology: the process heap).',
      samples: nodes.flatMap((n) =>
        n.usedMemory === null ? [] : [{ labels: { node: n.id }, value: n.usedMemory }],
      ),
    },
  ]
}

/** The fleet-wide gauges of SPEC §11, in the Prometheus text format (version 0.0.4). */
export function renderMetrics(s: Snapshot): string {
  const groups = s.streams.flatMap((stream) => stream.groups.map((group) => ({ stream: stream.name, group })))
  return render([
    {
      name: 'redfleet_stream_group_lag',
      help: 'Entries of the stream not yet acknowledged by the group (never delivered + pending).',
      samples: groups.map(({ stream, group }) => ({
        labels: { stream, group: group.name },
        value: group.lag,
      })),
    },
    {
      name: 'redfleet_stream_group_pending',
      help: 'Entries delivered to a consumer of the group and not acknowledged yet.',
      samples: groups.map(({ stream, group }) => ({
        labels: { stream, group: group.name },
        value: group.pending,
      })),
    },
    {
      name: 'redfleet_stream_dead_letters',
      help: 'Dead letters waiting in the channel.',
      samples: s.deadLetters.map((d) => ({ labels: { channel: d.channel }, value: d.length })),
    },
    // A part that could not be read has no samples: absent, not a made-up 0.
    {
      name: 'redfleet_tracker_in_flight',
      help: 'Jobs in flight on the live tracker instance.',
      samples: (s.tracker?.instances ?? []).map((i) => ({ labels: { instance: i.id }, value: i.inFlight })),
    },
    {
      name: 'redfleet_tracker_orphans',
      help: 'Jobs of tracker instances that are no longer live.',
      samples: s.tracker ? [{ labels: {}, value: s.tracker.orphans }] : [],
    },
    {
      name: 'redfleet_members_live',
      help: 'Members whose heartbeat has not expired.',
      samples: s.members ? [{ labels: {}, value: s.members.length }] : [],
    },
    {
      name: 'redfleet_keys',
      help: 'Keys of the namespace per primitive (a lower bound when the scan was truncated).',
      // Not when the walk left a node out: a part of the count would read as keys gone.
      samples: isUnavailable(s, 'keys')
        ? []
        : Object.entries(s.keys).map(([primitive, n]) => ({ labels: { primitive }, value: n })),
    },
    ...nodeGauges(s.nodes),
  ])
}

/**
 * What `/metrics` serves when the fleet cannot be read: the node gauges only (a scrape that
 * succeeds with node_up 0 lets alerts say which node is gone; stale fleet figures are left out).
 */
export function renderNodeMetrics(nodes: NodeStatus[]): string {
  return render(nodeGauges(nodes))
}
