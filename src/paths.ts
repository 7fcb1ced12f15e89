import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: the nearest folder above this module that holds package.json. */
function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the Zielwerk project root above ${start}`);
    dir = parent;
  }
  return dir;
}

export const projectRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
export const templatesDir = join(projectRoot, 'templates');

/** The tool's version, from package.json (printed by `zv --version`, recorded in manifests). */
export const toolVersion: string = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')).version;
