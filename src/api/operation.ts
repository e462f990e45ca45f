/** The shape of one SMS operation: moved to src/operations/operation.ts (it names core's context). */
// moved to operations/operation.ts; re-exported until the App/launch code is moved over
export { pageMembers } from '../operations/operation.ts';
export type { Operation, RequestContext } from '../operations/operation.ts';
