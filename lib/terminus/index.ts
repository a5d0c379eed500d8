// `tokencap/terminus`: a health indicator for the budget store. Needs `@nestjs/terminus`.
export {
  type BudgetStoreDownDetails,
  BudgetStoreHealthIndicator,
  type BudgetStoreHealthOptions,
} from './budget-store.health-indicator.js';
