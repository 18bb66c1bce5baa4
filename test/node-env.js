// onnxruntime-node checks tensor data with `instanceof Float32Array` against the host realm;
// Jest's default environment gives each test file its own realm, so share the host's constructors.
const { TestEnvironment } = require('jest-environment-node');

class HostTypedArrayEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of [
      'ArrayBuffer',
      'Uint8Array',
      'Int8Array',
      'Uint16Array',
      'Int16Array',
      'Uint32Array',
      'Int32Array',
      'Float32Array',
      'Float64Array',
      'BigInt64Array',
      'BigUint64Array',
      'Uint8ClampedArray',
    ]) {
      this.global[name] = globalThis[name];
    }
  }
}
module.exports = HostTypedArrayEnvironment;
