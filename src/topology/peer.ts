import { MissingClientError } from '../errors.ts'

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
}

/** Imports the first of `specifiers` that is installed; none is a MissingClientError naming `pkg`. */
async function importFirst<M>(specifiers: readonly string[], pkg: 'ioredis' | 'redis'): Promise<M> {
  let missing: unknown
  for (const specifier of specifiers) {
    try {
      return (await import(specifier)) as M
    } catch (error) {
      if (!isNotFound(error)) throw error
      missing ??= error
    }
  }
  throw new MissingClientError(missing, pkg)
}

/**
 * The loader of a Redis client package, a peer dependency imported when a Redis topology is first
 * used (so the memory topology works without it). The import is made once; a failed one is not
 * kept, so installing the package and calling again works. `specifiers` is read at each import.
 */
export function peerLoader<M>(
  specifiers: () => readonly string[],
  pkg: 'ioredis' | 'redis',
): () => Promise<M> {
  let loading: Promise<M> | undefined
  return () => {
    loading ??= importFirst<M>(specifiers(), pkg).catch((error: unknown) => {
      loading = undefined
      throw error
    })
    return loading
  }
}
