import path from 'node:path';

/** Repository root (this file lives in `<root>/lib`). */
export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** Project-local, git-ignored folder for services, caches, the content store and run artefacts. */
export function stateDir(): string {
  return path.resolve(process.env.IE_STATE_DIR ?? path.join(PROJECT_ROOT, '.state'));
}

/** The content store's folder: every image once, by SHA-256 of its bytes. */
export function imageStoreDir(): string {
  return path.resolve(process.env.IE_STORE_DIR ?? path.join(stateDir(), 'store'));
}

/** The offline natural-photo corpus (Tiny ImageNet 32 px + ImageNet samples). */
export function datasetsDir(): string {
  return path.resolve(process.env.IE_DATASETS_DIR ?? path.join(PROJECT_ROOT, '..', 'shared', 'datasets'));
}

/** WordNet 3.0 database folder (Debian `wordnet-base`). */
export function wordnetDir(): string {
  return path.resolve(process.env.WORDNET_DIR ?? '/usr/share/wordnet');
}

/** Python interpreter that has PyTorch (Debian's `python3-torch` imports only under /usr/bin/python3). */
export function pythonExecutable(): string {
  return process.env.IE_PYTHON ?? '/usr/bin/python3';
}
