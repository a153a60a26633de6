/**
 * The nodes a fleet's background work sees failing without the node being known down (a frozen
 * or paused server: a near cache's ROLE or CLIENT TRACKING timed out, a blocking read got no
 * reply), shared by every namespace's near-cache tracking and the fleet's blocking reads: such
 * a node is reported once for the fleet, not once per namespace or loop (SPEC §1: one warning
 * per node per change of its state). Its spell ends once every watcher that saw it fail has
 * seen it work again (or stopped watching it).
 */
export class FailingNodes {
  /** Per node, the watchers (a TrackedNode, the blocking pool) in a failing spell of it. */
  readonly #failing = new Map<string, Set<object>>()

  /** `watcher` sees `node` fail; true when no other one was in a spell of it: report it. */
  failed(node: string, watcher: object): boolean {
    let watchers = this.#failing.get(node)
    if (watchers === undefined) {
      watchers = new Set()
      this.#failing.set(node, watchers)
    }
    const first = watchers.size === 0
    watchers.add(watcher)
    return first
  }

  /** `watcher` sees `node` work again, or stops watching it. */
  worked(node: string, watcher: object): void {
    const watchers = this.#failing.get(node)
    if (watchers === undefined) return
    watchers.delete(watcher)
    if (watchers.size === 0) this.#failing.delete(node)
  }
}
