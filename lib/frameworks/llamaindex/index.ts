// `tokencap/llamaindex`: LlamaIndex.TS LLMs on the metering pipeline. Its own subpath, so apps
// that do not use LlamaIndex (optional peer dependency `@llamaindex/core`) never load this code.
export { meterLLM } from './meter-llm.js';
