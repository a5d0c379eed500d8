// `tokencap/otel`: OpenTelemetry metrics and span attributes for a ledger. Needs `@opentelemetry/api`.

export { OTHER_LABEL } from './label.bounder.js';
export { SPAN_EVENT_NAMES } from './span.annotator.js';
export {
  instrumentTokencap,
  type TokencapInstrumentationOptions,
} from './tokencap.instrumentation.js';
