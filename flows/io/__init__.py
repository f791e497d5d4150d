"""Reading and writing: the price and factor stores, importers, Yahoo and the French library, catalogs, atomic writes."""
