// Child process for the folder-lock test: takes the data folder's lock, says "locked", and waits to be killed.
import { lockDataFolder } from '../../../events/store/folder-lock.js';

lockDataFolder(process.argv[2]!);
process.stdout.write('locked\n');
setInterval(() => undefined, 1 << 30);
