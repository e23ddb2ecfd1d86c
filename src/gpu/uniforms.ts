// Uniform structs: values given by field name are packed into the reflected layout (offsets, types
// and component counts from wgsl_reflect), with a named error for any unknown, missing or
// out-of-range field.
import type { ReflectedBinding } from './reflect.js';

/** Writes uniform values into `data` by the reflected layout. */
export function packUniforms(
  kernelLabel: string,
  binding: ReflectedBinding,
  values: Readonly<Record<string, number | readonly number[]>>,
  data: ArrayBuffer,
  requireAll: boolean,
): void {
  const view = new DataView(data);
  const known = new Set(binding.uniformFields.map((f) => f.name));
  for (const key of Object.keys(values)) {
    if (!known.has(key)) {
      throw new Error(
        `kernel '${kernelLabel}': uniform '${binding.name}' has no field '${key}' (fields: ${[...known].join(', ')})`,
      );
    }
  }
  for (const field of binding.uniformFields) {
    const value = values[field.name];
    if (value === undefined) {
      if (requireAll) {
        throw new Error(
          `kernel '${kernelLabel}': uniform field '${binding.name}.${field.name}' was not given`,
        );
      }
      continue;
    }
    const parts = typeof value === 'number' ? [value] : value;
    if (parts.length !== field.components) {
      throw new Error(
        `kernel '${kernelLabel}': uniform field '${field.name}' needs ${field.components} values, got ${parts.length}`,
      );
    }
    parts.forEach((part, i) => {
      const offset = field.offset + 4 * i;
      if (!Number.isFinite(part)) {
        throw new Error(`kernel '${kernelLabel}': uniform field '${field.name}' is ${part}`);
      }
      if (field.type === 'f32') view.setFloat32(offset, part, true);
      else if (field.type === 'u32') {
        if (!Number.isInteger(part) || part < 0 || part > 0xffffffff) {
          throw new Error(
            `kernel '${kernelLabel}': uniform field '${field.name}' (u32) got ${part}`,
          );
        }
        view.setUint32(offset, part, true);
      } else {
        if (!Number.isInteger(part) || part < -0x80000000 || part > 0x7fffffff) {
          throw new Error(
            `kernel '${kernelLabel}': uniform field '${field.name}' (i32) got ${part}`,
          );
        }
        view.setInt32(offset, part, true);
      }
    });
  }
}
