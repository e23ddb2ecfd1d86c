// wgsl_reflect's ESM build has no declarations beside it; reuse the package's own.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
