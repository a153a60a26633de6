/** The RedfleetWarnings this process emits from now until `stop()`, in order. */
export function countWarnings(): { readonly count: number; readonly messages: string[]; stop(): void } {
  const messages: string[] = []
  const listener = (warning: Error) => {
    if (warning.name === 'RedfleetWarning') messages.push(warning.message)
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
