/** Whether anything (file, directory, link target) is at `path`; any failure to stat it counts as "not there". */
import { stat } from 'node:fs/promises';

export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
