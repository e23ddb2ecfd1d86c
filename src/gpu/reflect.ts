// Reads binding numbers, access modes and uniform struct layouts out of WGSL with wgsl_reflect, so
// bind group layouts are derived from the shader and what a caller binds can be checked against it.
// (wgsl_reflect's package `main` is CommonJS in an ESM package; its module build imports cleanly.)
import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';

export type BindingKind =
  'uniform' | 'storage' | 'read-only-storage' | 'texture' | 'storage-texture';

export type ScalarType = 'f32' | 'u32' | 'i32';

export interface UniformField {
  name: string;
  /** Byte offset inside the uniform struct. */
  offset: number;
  type: ScalarType;
  /** Number of scalars (1 for a scalar, 2..4 for a vector). */
  components: number;
}

export interface ReflectedBinding {
  name: string;
  group: number;
  binding: number;
  kind: BindingKind;
  /** For storage arrays: bytes per element (4 for f32, 16 for vec4<f32>); 0 when not an array. */
  elementBytes: number;
  /** For uniform structs: total size in bytes and its fields. */
  uniformSize: number;
  uniformFields: UniformField[];
  /** For storage textures: the texel format, e.g. 'rgba32float'. */
  textureFormat?: string;
  textureAccess?: string;
}

export interface ReflectedEntryPoint {
  name: string;
  workgroupSize: [number, number, number];
  bindings: ReflectedBinding[];
}

export interface ReflectedModule {
  entryPoints: Map<string, ReflectedEntryPoint>;
  overrides: string[];
}

interface RawType {
  name: string;
  size: number;
  isArray?: boolean;
  isStruct?: boolean;
  isTemplate?: boolean;
  stride?: number;
  format?: RawType | null;
  members?: { name: string; offset: number; size: number; type: RawType }[] | null;
}

interface RawResource {
  name: string;
  group: number;
  binding: number;
  resourceType: number;
  access: string;
  type: RawType;
}

function scalarOf(type: RawType): { type: ScalarType; components: number } {
  const name = type.name;
  if (name === 'f32' || name === 'u32' || name === 'i32') return { type: name, components: 1 };
  const vec = /^vec([234])(?:<(f32|u32|i32)>|([fiu]))$/.exec(name);
  if (vec) {
    const format = type.format?.name ?? { f: 'f32', i: 'i32', u: 'u32' }[vec[3] ?? 'f'];
    return { type: (format ?? 'f32') as ScalarType, components: Number(vec[1]) };
  }
  if ((name === 'vec2' || name === 'vec3' || name === 'vec4') && type.format) {
    return { type: type.format.name as ScalarType, components: Number(name.slice(3)) };
  }
  throw new Error(
    `uniform member of type ${name} is not supported (use u32, i32, f32 or vecN of them)`,
  );
}

function toBinding(resource: RawResource): ReflectedBinding {
  let kind: BindingKind;
  switch (resource.resourceType) {
    case ResourceType.Uniform:
      kind = 'uniform';
      break;
    case ResourceType.Storage:
      kind = resource.access === 'read' ? 'read-only-storage' : 'storage';
      break;
    case ResourceType.Texture:
      kind = 'texture';
      break;
    case ResourceType.StorageTexture:
      kind = 'storage-texture';
      break;
    default:
      throw new Error(
        `binding ${resource.name}: resource type ${resource.resourceType} is not supported`,
      );
  }
  const binding: ReflectedBinding = {
    name: resource.name,
    group: resource.group,
    binding: resource.binding,
    kind,
    elementBytes: resource.type.isArray ? (resource.type.stride ?? 0) : 0,
    uniformSize: kind === 'uniform' ? resource.type.size : 0,
    uniformFields: [],
  };
  if (kind === 'uniform') {
    for (const member of resource.type.members ?? []) {
      binding.uniformFields.push({
        name: member.name,
        offset: member.offset,
        ...scalarOf(member.type),
      });
    }
  }
  if (kind === 'storage-texture') {
    binding.textureFormat = resource.type.format?.name;
    binding.textureAccess = resource.access;
  }
  return binding;
}

/** Parses a WGSL module; throws with `file` in the message if it cannot be parsed. */
export function reflectWgsl(code: string, file: string): ReflectedModule {
  let reflect: WgslReflect;
  try {
    reflect = new WgslReflect(code);
  } catch (error) {
    throw new Error(`${file}: WGSL could not be parsed for reflection: ${String(error)}`, {
      cause: error,
    });
  }
  const entryPoints = new Map<string, ReflectedEntryPoint>();
  for (const entry of reflect.entry.compute) {
    const size = (entry.workgroupSize ?? [1, 1, 1]) as number[];
    entryPoints.set(entry.name, {
      name: entry.name,
      workgroupSize: [size[0] ?? 1, size[1] ?? 1, size[2] ?? 1],
      bindings: (entry.resources as unknown as RawResource[])
        .map(toBinding)
        .sort((a, b) => a.group - b.group || a.binding - b.binding),
    });
  }
  return { entryPoints, overrides: reflect.overrides.map((o: { name: string }) => o.name) };
}
