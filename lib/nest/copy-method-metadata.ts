/**
 * Copies every metadata key of `original` onto `wrapper` (as nestjs-cls's `copyMethodMetadata`
 * does), so route, guard, `@Cron` and other decorators' metadata survive when a method is wrapped.
 */
export function copyMethodMetadata(original: object, wrapper: object): void {
  for (const key of Reflect.getMetadataKeys(original) as unknown[]) {
    Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapper);
  }
}
