/** The warnings named `name` this process emits from now until `stop()`, in order. */
export function countWarnings(name = 'RedfleetWarning'): {
  readonly count: number
  readonly messages: string[]
  stop(): void
} {
  const messages: string[] = []
  const listener = (warning: Error) => {
    if (warning.name === name) messages.push(warning.message)
  }
  process.on('warning', listener)
  return {
    get count() {
      return messages.length
    },
    messages,
    stop: () => process.off('warning', listener),
  }
}
