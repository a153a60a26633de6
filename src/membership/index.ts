export {
  createMembership,
  INBOX_MAX_LEN,
  type Membership,
  type MembershipHandle,
  type MembershipOptions,
} from './membership.ts'
