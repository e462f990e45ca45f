/** Locating the Debian tools Ferry runs: moved to src/lib/tools.ts (the launch subsystem uses it too). */
// moved to lib/tools.ts; re-exported until the App/launch code is moved over
export { findTool, MissingToolError, requireTools, TOOL_PACKAGES } from '../../lib/tools.ts';
