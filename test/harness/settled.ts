/**
 * What `call` settled with within `ms`: `{ value }` when it resolved, the error when it rejected,
 * 'pending' when it had done neither (a hang shows as a failed assertion, not a stuck test).
 */
export async function settledWithin(call: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms)
  })
  try {
    return await Promise.race([
      call.then(
        (value) => ({ value }),
        (error: unknown) => error,
      ),
      late,
    ])
  } finally {
    clearTimeout(timer)
  }
}
