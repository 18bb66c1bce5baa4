/** Little-endian float32 arrays stored as bytes (database `Bytes` columns and cache files). */
export function float32ToBytes(values: Float32Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(values.byteLength);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return out;
}

export function float32FromBytes(bytes: Uint8Array): Float32Array {
  // Copy: the source may not be 4-byte aligned.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}
