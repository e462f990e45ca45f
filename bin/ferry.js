#!/usr/bin/env node
// Ferry is written in TypeScript and runs on Node.js 24's type stripping; `npx ferry` and the npm scripts use the
// Node 24 pinned in devDependencies even where the system Node is older.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `ferry needs Node.js 24 or newer (this is ${process.version}). Run it through npm so the pinned Node 24 is used: npx ferry …\n`,
  );
  process.exit(1);
}
await import('../src/cli/main.ts');
