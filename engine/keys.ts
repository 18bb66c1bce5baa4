/** Keys may hold '/', kept as path separators; every segment is percent-encoded. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
