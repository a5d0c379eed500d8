// One catalog of model facts: encodings, prices, output limits, reasoning, by one name rule.
export { ANTHROPIC_MODELS } from './anthropic.models.js';
export { bindModelCatalog, modelCatalogFor } from './catalog.binding.js';
export type {
  EncodingName,
  ModelFacts,
  ModelPrice,
  ModelTable,
  TokenRates,
} from './model-facts.js';
export { ModelCatalog, type ModelCatalogOptions, SHIPPED_MODEL_CATALOG } from './model.catalog.js';
export { OPENAI_MODELS } from './openai.models.js';
export { PriceUnknownError } from './price-unknown.error.js';
