// `tokencap/swagger`: OpenAPI documentation of budgeted operations. Needs `@nestjs/swagger`.
export {
  ApiBudgetResponses,
  type ApiBudgetResponsesOptions,
} from './api-budget-responses.decorator.js';
