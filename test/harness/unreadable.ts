/**
 * Values that throw as they are read: a getter, a Proxy whose ownKeys trap throws, at the top
 * and nested. Writing one must be a SerializationError that writes nothing.
 */
export function unreadableValues(): unknown[] {
  const getter = {
    get a() {
      throw new Error('getter!')
    },
  }
  const trap = new Proxy(
    {},
    {
      ownKeys() {
        throw new Error('trap!')
      },
    },
  )
  return [getter, { nested: getter }, trap, [trap]]
}
