import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify'
import {
  type PurgeResult,
  purgeChannel,
  purgeNote,
  replayDeadLetters,
  unmatched,
  unmatchedNote,
} from '../admin/dead-letters.ts'
import { type OrphanRef, releaseOrphan } from '../admin/orphans.ts'
import { messageOf } from '../errors.ts'
import type { Fleet } from '../fleet.ts'
import { nearestName } from '../validate.ts'

/** The header the page's script sends with every action: a cross-site form cannot send it. */
export const ACTION_HEADER = 'x-redfleet-action'

/**
 * The Ajv options the dashboard's Fastify instance needs for these schemas. Fastify's defaults
 * strip a field `additionalProperties: false` should refuse (`removeAdditional: true`: a
 * misspelt `idz` went, and the purge it was to narrow purged every dead letter) and turn a value
 * of another type into the one asked for (`coerceTypes`: `{ "channel": 5 }` purged channel '5').
 */
export const ACTION_AJV = { customOptions: { removeAdditional: false, coerceTypes: false } }

interface BodySchema {
  type: 'object'
  required: string[]
  additionalProperties: false
  properties: Record<string, object>
}

const ids = { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 10_000 }
const DEAD_LETTERS: BodySchema = {
  type: 'object',
  required: ['channel'],
  additionalProperties: false,
  properties: { channel: { type: 'string', minLength: 1 }, ids },
}
const ORPHAN: BodySchema = {
  type: 'object',
  required: ['instanceId', 'id'],
  additionalProperties: false,
  properties: {
    instanceId: { type: 'string', minLength: 1 },
    id: { type: 'string', minLength: 1 },
    startedAt: { type: 'number' },
  },
}

interface Action<B> {
  path: string
  schema: BodySchema
  /** What was done: a count, and for a purge the entries that were not dead letters. */
  run(body: B): Promise<{ message: string; count: number; malformed?: number; kept?: number }>
}

/**
 * The actions that change data: replay or purge dead letters, release an orphan. Each answers
 * 403 unless the dashboard was started with allowActions, and 403 too without the action header
 * (which a cross-site form cannot set, so a page elsewhere cannot use the operator's cookie).
 * Every action that runs is logged with what it did and who asked.
 */
export function registerActions(
  app: FastifyInstance,
  fleet: Fleet,
  allowActions: boolean,
  log: (line: string) => void,
): void {
  // Checked on request, before the body is parsed or validated: refused is 403 whatever is sent.
  const guard = async (request: FastifyRequest, reply: FastifyReply) => {
    const refused = refusal(request, allowActions)
    if (refused) await reply.code(403).send({ error: refused })
  }
  const register = <B>(action: Action<B>) =>
    app.post<{ Body: B }>(
      action.path,
      // A body the schema refuses is answered here, in the shape of every other refusal.
      { schema: { body: action.schema }, attachValidation: true, onRequest: guard },
      async (request, reply) => {
        if (request.validationError) return invalidBody(reply, request.validationError, action.schema)
        try {
          const done = await action.run(request.body as B)
          log(`redfleet dashboard: ${done.message} (asked by ${request.ip})`)
          return reply.send(done)
        } catch (error) {
          return failed(reply, error)
        }
      },
    )

  type Letters = { channel: string; ids?: string[] }
  const which = (b: Letters) => (b.ids ? `${b.ids.length} selected` : 'all')
  register<Letters>({
    path: '/actions/dead-letters/replay',
    schema: DEAD_LETTERS,
    async run(b) {
      const count = await replayDeadLetters(fleet, b.channel, { ids: b.ids })
      const note = unmatchedNote(unmatched(count, b.ids))
      return { count, message: `replayed ${count} dead letter(s) of '${b.channel}' (${which(b)})${note}` }
    },
  })
  register<Letters>({
    path: '/actions/dead-letters/purge',
    schema: DEAD_LETTERS,
    async run(b) {
      const purged = await purgeChannel(fleet, b.channel, { ids: b.ids })
      const note = purgeNote(purged, unmatched(purged.count, b.ids))
      return { ...purged, message: `purged ${purgedWhat(purged)} of '${b.channel}' (${which(b)})${note}` }
    },
  })
  register<OrphanRef>({
    path: '/actions/orphans/release',
    schema: ORPHAN,
    async run(b) {
      const released = await releaseOrphan(fleet, b)
      const message = released
        ? `released orphan '${b.id}' of instance '${b.instanceId}'`
        : `orphan '${b.id}' of instance '${b.instanceId}' was not released: it is no longer an orphan`
      return { count: released ? 1 : 0, message }
    },
  })
}

function refusal(
  request: FastifyRequest,
  allowActions: boolean,
): { code: string; message: string } | undefined {
  if (!allowActions) {
    return { code: 'ERR_ACTIONS_OFF', message: 'actions are off: start the dashboard with --allow-actions' }
  }
  if (request.headers[ACTION_HEADER] !== '1') {
    return { code: 'ERR_ACTION_HEADER', message: `actions must carry the ${ACTION_HEADER}: 1 header` }
  }
  return undefined
}

/** 400 for a body the schema refuses; an unknown field is named, with the field it may stand for. */
function invalidBody(
  reply: FastifyReply,
  error: Error & { validation?: FastifySchemaValidationError[] },
  schema: BodySchema,
) {
  const unknown = error.validation?.find((e) => e.keyword === 'additionalProperties')?.params
    .additionalProperty
  let message = error.message
  if (typeof unknown === 'string') {
    const known = Object.keys(schema.properties)
    const nearest = nearestName(unknown, known)
    const hint = nearest === undefined ? `known: ${known.join(', ')}` : `did you mean "${nearest}"?`
    message = `body has an unknown field "${unknown}" (${hint}): nothing was done`
  }
  return reply.code(400).send({ error: { code: 'ERR_INVALID_ARGUMENT', message } })
}

function failed(reply: FastifyReply, error: unknown) {
  const code = (error as { code?: unknown }).code
  const status = error instanceof TypeError ? 400 : 503
  return reply
    .code(status)
    .send({ error: { code: typeof code === 'string' ? code : 'ERR_ACTION', message: messageOf(error) } })
}

/** A purge's dead letters, and the entries that were not dead-letter records it deleted too. */
function purgedWhat(p: PurgeResult): string {
  const letters = `${p.count} dead letter(s)`
  return p.malformed > 0
    ? `${letters} and ${p.malformed} entry(ies) that were not dead-letter records`
    : letters
}
