import type { Ledger } from '../core/ledger.js';
import { TokencapConfigError } from '../errors.js';
import { ModelCatalog, SHIPPED_MODEL_CATALOG } from './model.catalog.js';

// The engine knows nothing of models; the catalog an app prices and caps its calls with is tied
// to the app's Ledger (one per app), which is what a client wrapper finds in the budget frame.
// Keyed weakly, so a dropped ledger takes its catalog with it and two apps never share one.
const catalogs = new WeakMap<Ledger, ModelCatalog>();

/**
 * Makes `catalog` the one that calls charged to `ledger` are counted, priced and capped with. The
 * Nest module binds one built from its `prices` and `defaultPrice` options; bind your own for a
 * `Ledger` you create.
 * @throws TokencapConfigError when `catalog` is not a ModelCatalog.
 * @example
 * bindModelCatalog(ledger, new ModelCatalog({ prices: { 'my-model': { input: 1, output: 4 } } }));
 */
export function bindModelCatalog(ledger: Ledger, catalog: ModelCatalog): void {
  if (!(catalog instanceof ModelCatalog)) {
    throw new TokencapConfigError(
      'bindModelCatalog: expected a ModelCatalog (new ModelCatalog()).',
    );
  }
  catalogs.set(ledger, catalog);
}

/** The catalog bound to `ledger`, else the shipped one. */
export function modelCatalogFor(ledger: Ledger): ModelCatalog {
  return catalogs.get(ledger) ?? SHIPPED_MODEL_CATALOG;
}
